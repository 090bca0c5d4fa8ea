"""CSV readers and the ``telecom simulate`` command."""
import io
from decimal import Decimal as D

import pytest

from trytond.modules.telecom_base.cli import main
from trytond.modules.telecom_rating.engine import (
    InvalidFile, Level, read_cdrs, read_rate_deck, read_time_bands)

DECK = """Prefix,Destination,RATE,connect_fee,increment_first,increment_next,\
time_band
44,UK,0.10,,1,1,peak
44,UK,0.04,,1,1,offpeak
447,UK mobile,0.20,0.05,60,30,
"""
BANDS = """name,days,start,end,timezone
peak,mon-fri,08:00,18:00,Europe/London
offpeak,mon-fri,18:00,08:00,Europe/London
offpeak,mon,00:00,08:00,Europe/London
offpeak,"sat,sun",00:00,24:00,Europe/London
"""
CDRS = """call_id,caller,callee,start,duration,direction
a,331,441234,2026-03-02T07:59:30+00:00,60,
b,331,+447999,2026-03-02T08:59:30+0100,61,outbound
c,331,99912345,2026-03-02T07:59:30Z,61,
"""


def problems(reader, text, *args):
    with pytest.raises(InvalidFile) as info:
        reader(io.StringIO(text), *args)
    return [(p.line, p.column, p.reason) for p in info.value.problems]


def test_read_deck_defaults():
    rates = read_rate_deck(io.StringIO("prefix,rate\n44,0.1\n"))
    [rate] = rates
    assert (rate.prefix, rate.price, rate.connect_fee, rate.min_duration,
        rate.increment_first, rate.increment_next, rate.valid_from,
        rate.priority, rate.time_band) == (
        '44', D('0.1'), D(0), 0, 1, 1, None, 0, None)


def test_deck_lists_every_problem():
    deck = ("prefix,rate,increment_first,valid_from,valid_to,time_band\n"
        "4x,-1,0,,,\n"
        "44,abc,1,2026-02-01,2026-01-01,night\n"
        "44,0.1,1,,,\n"
        "44,0.2,1,,,\n"
        "45\n")
    assert problems(read_rate_deck, deck) == [
        (2, 'prefix', "'4x': not a string of digits"),
        (2, 'rate', "'-1': not a number at least 0"),
        (2, 'increment_first', "'0': less than 1"),
        (3, 'rate', "'abc': not a number"),
        (3, 'time_band', "unknown time band 'night'"),
        (3, 'valid_to', "not after valid_from"),
        (5, 'prefix',
            "same prefix, valid_from, time_band and priority as line 4"),
        (6, None, "1 fields, the header has 6"),
        ]


def test_deck_rejects_unknown_and_missing_columns():
    assert problems(read_rate_deck, "prefix,colour\n44,red\n") == [
        (1, 'colour', "unknown column; expected some of prefix, destination, "
            "rate, connect_fee, min_duration, increment_first, "
            "increment_next, valid_from, valid_to, priority, time_band"),
        (1, 'rate', "required column is missing"),
        ]


def test_read_time_bands():
    bands = read_time_bands(io.StringIO(
            "Name,Days,Start,End,Timezone,Holidays\n"
            "peak,\"mon,wed-fri\",08:00,24:00,Europe/Paris,"
            "2026-12-25;2027-01-01\n"))
    [band] = bands
    assert (band.days, band.start, band.end, len(band.holidays)) == (
        frozenset({0, 2, 3, 4}), 480, 1440, 2)
    assert problems(read_time_bands,
        "name,days,start,end,timezone\np,funday,25:00,8,Mars/Base\n") == [
        (2, 'days', "'funday': days are mon…sun, e.g. mon-fri or sat,sun"),
        (2, 'start', "'25:00': not a time HH:MM from 00:00 to 24:00"),
        (2, 'end', "'8': invalid literal for int() with base 10: ''"),
        (2, 'timezone', "'Mars/Base': unknown IANA time zone"),
        ]


def test_read_cdrs():
    chain = (Level('P'),)
    calls = read_cdrs(io.StringIO(CDRS), {'outbound': chain})
    assert [(c.call_id, c.callee, c.start, c.duration, c.chain)
        for c in calls][:2] == [
        ('a', '441234', 1772438370, 60, chain),
        ('b', '447999', 1772438370, 61, chain)]  # same instant
    assert problems(read_cdrs,
        "call_id,callee,start,duration,direction\n"
        "a,44x,2026-03-02T07:59:30,-1,sideways\n"
        "a,44,2026-03-02T07:59:30Z,1,\n", {}) == [
        (2, 'callee', "'44x': not a string of digits"),
        (2, 'start', "'2026-03-02T07:59:30': no UTC offset (e.g. +01:00 "
            "or Z)"),
        (2, 'duration', "'-1': less than 0"),
        (2, 'direction', "'sideways' is not one of outbound, inbound"),
        (3, 'call_id', "same call as line 2"),
        ]


@pytest.fixture
def files(tmp_path):
    for name, text in [('deck', DECK), ('bands', BANDS), ('cdrs', CDRS)]:
        (tmp_path / f'{name}.csv').write_text(text)
    return tmp_path


def test_simulate(files, capsys):
    code = main(['simulate', '--rates', str(files / 'deck.csv'),
            '--time-bands', str(files / 'bands.csv'),
            '--cdrs', str(files / 'cdrs.csv'), '--currency', 'GBP'])
    out, err = capsys.readouterr()
    assert code == 0
    # a: 30 s off-peak 0.04 + 30 s peak 0.10 = 0.02 + 0.05
    # b: 61 s → 60 + 30 = 90 s: 0.05 + 0.20 · 1.5 = 0.35
    assert out.splitlines() == [
        'call_id,prefix,destination,charged_seconds,cost,currency',
        'a,44,UK,60,0.0700,GBP',
        'b,447,UK mobile,90,0.3500,GBP',
        'c,,,,,',
        ]
    assert err == "rated 2, unrated 1 (no rate: 1)\n"


def test_simulate_rejects_bad_files(files, capsys):
    (files / 'cdrs.csv').write_text("call_id,callee,start\nx,1,2\n")
    code = main(['simulate', '--rates', str(files / 'deck.csv'),
            '--cdrs', str(files / 'cdrs.csv'), '--rounding', 'up'])
    out, err = capsys.readouterr()
    assert (code, out) == (2, '')
    deck, cdrs = files / 'deck.csv', files / 'cdrs.csv'
    assert err.splitlines() == [
        f"{deck}:2: column time_band: unknown time band 'peak'",
        f"{deck}:3: column time_band: unknown time band 'offpeak'",
        f"{cdrs}:1: column duration: required column is missing",
        ]
