"""Carriers and statistics CSV readers and the ``telecom route`` command."""
import io
from decimal import Decimal as D

import pytest

from trytond.modules.telecom_base.cli import main
from trytond.modules.telecom_lcr.engine import (
    Carrier, Gateway, QualityStats, read_carriers, read_quality_stats)
from trytond.modules.telecom_rating.engine import InvalidFile

CARRIERS = """id,name,currency,gateway,transport,tech_prefix,strip_digits,\
add_prefix,max_calls,allowed_accounts,state
alpha,Alpha Telecom,eur,gw1.alpha.net gw2.alpha.net,tcp,77#,2,0,30,,
beta,,USD,PJSIP/{number}@beta,,,,,,acme;zeta,
gamma,Gamma,EUR,gamma.net,,,,,,,disabled
"""
DECK_ALPHA = "prefix,rate\n44,0.020\n4420,0.012\n"
DECK_BETA = "prefix,rate,connect_fee\n44,0.012,0.01\n"
DECK_GAMMA = "prefix,rate\n4,0.001\n"


def test_read_carriers():
    alpha, beta, gamma = read_carriers(io.StringIO(CARRIERS))
    assert alpha == Carrier('alpha', 'Alpha Telecom', 'EUR',
        (Gateway('gw1.alpha.net', 'tcp'), Gateway('gw2.alpha.net', 'tcp')),
        tech_prefix='77#', strip_digits=2, add_prefix='0', max_calls=30)
    assert beta.name == 'beta' and beta.currency == 'USD'
    assert beta.gateways == (Gateway('PJSIP/{number}@beta'),)
    assert beta.allowed_accounts == frozenset({'acme', 'zeta'})
    assert gamma.state == 'disabled'


def test_carriers_file_lists_every_problem():
    text = ("id,currency,gateway,transport,strip_digits,colour\n"
        "a,EUR,gw,udp,1,red\n")
    with pytest.raises(InvalidFile) as info:
        read_carriers(io.StringIO(text))
    assert [p.reason for p in info.value.problems] == [
        "unknown column; expected some of id, name, currency, gateway, "
        "transport, tech_prefix, strip_digits, add_prefix, rewrite_pattern, "
        "rewrite_replacement, max_calls, calls_per_second, "
        "allowed_accounts, allowed_plans, state"]
    text = ("id,currency,gateway,transport,strip_digits,state\n"
        "a,EUR,gw,pigeon,-1,on\n"
        "a,,gw,,,\n")
    with pytest.raises(InvalidFile) as info:
        read_carriers(io.StringIO(text))
    assert [(p.line, p.column, p.reason) for p in info.value.problems] == [
        (2, 'transport', "'pigeon': not one of udp, tcp, tls, ws, wss"),
        (2, 'strip_digits', "'-1': less than 0"),
        (2, 'state', "'on': not one of active, disabled"),
        (3, 'currency', "a value is required"),
        (3, 'id', "same carrier as line 2"),
        ]


def test_read_quality_stats():
    stats = read_quality_stats(io.StringIO(
            "carrier,group,asr,acd,pdd,samples\n"
            "alpha,,45.5,120,2.5,900\nbeta,uk,30,60,,\n"))
    assert stats == {
        ('alpha', None): QualityStats(D('45.5'), D(120), D('2.5'), 900),
        ('beta', 'uk'): QualityStats(D(30), D(60), D(0), 0)}


@pytest.fixture
def files(tmp_path):
    for name, text in [('carriers.csv', CARRIERS), ('alpha.csv', DECK_ALPHA),
            ('beta.csv', DECK_BETA), ('gamma.csv', DECK_GAMMA)]:
        (tmp_path / name).write_text(text)
    return tmp_path


def decks(files):
    return ['--deck', f'alpha={files / "alpha.csv"}',
        '--deck', f'beta={files / "beta.csv"}',
        '--deck', f'gamma={files / "gamma.csv"}']


def test_route_offline(files, capsys):
    code = main(['route', *decks(files), '--carriers',
            str(files / 'carriers.csv'), '--rate', 'USD:EUR=0.9',
            '--caller', '+33123', '--callee', '+442071234567',
            '--at', '2026-03-02T10:00:00Z', '--account', 'acme'])
    out, err = capsys.readouterr()
    assert code == 0
    # beta 0.012 USD × 0.9 = 0.0108 EUR; alpha 0.012 EUR on 4420
    assert out.splitlines() == [
        "voice call from 33123 to 442071234567 at 2026-03-02T10:00:00Z, "
        "policy least-cost",
        "  1. beta         0.0108 EUR/min  prefix 44         "
        "PJSIP/442071234567@beta",
        "  2. alpha        0.012 EUR/min  prefix 4420       "
        "sip:77#02071234567@gw1.alpha.net;transport=tcp",
        "  skipped gamma        disabled",
        ]
    assert err == "routes 2, skipped 1 (disabled: 1)\n"


def test_route_offline_without_carriers_file_and_priority(files, capsys):
    code = main(['route', *decks(files)[:4], '--policy', 'priority',
            '--caller', '1', '--callee', '442071234567',
            '--at', '2026-03-02T10:00:00'])
    out, _ = capsys.readouterr()
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()[1:]] == [
        'alpha', 'beta']


def test_route_without_a_route_says_why(files, capsys):
    code = main(['route', *decks(files), '--carriers',
            str(files / 'carriers.csv'), '--caller', '1', '--callee', '1212',
            '--at', '2026-03-02T10:00:00Z'])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[-1] == (
        "no carrier can take 1212 (voice, plan offline) at "
        "2026-03-02T10:00:00Z: 3 carriers without a rate")
    assert err == "routes 0, skipped 3 (no_rate: 3)\n"


def test_route_rejects_bad_input(files, capsys):
    (files / 'bad.csv').write_text("prefix,rate\n4x,1\n")
    code = main(['route', '--deck', f'alpha={files / "bad.csv"}',
            '--deck', 'nonsense', '--rate', 'EUR', '--caller', '1',
            '--callee', '44'])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == [
        f"{files / 'bad.csv'}:2: column prefix: '4x': not a string of digits",
        "--deck 'nonsense': expected CARRIER=DECK.csv",
        "--rate 'EUR': expected e.g. USD:EUR=0.92",
        ]
    code = main(['route', '--plan', 'gold', '--caller', '1', '--callee',
            '44'])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == "--plan needs the database: -c CONFIG -d DATABASE\n"
