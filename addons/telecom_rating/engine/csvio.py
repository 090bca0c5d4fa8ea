"""Readers of the three CSV files: rate decks, time bands and CDRs.

Headers are case-insensitive, unknown columns are rejected by name, and a
file is read whole before it is judged: ``InvalidFile`` lists every problem
(file, line, column, reason), so nothing of a bad file is ever used.
"""
import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from .model import DAY_NAMES, DIRECTIONS, Call, Rate, TimeBand
from .money import to_nano
from .tariff import epoch

DECK_COLUMNS = (
    'prefix', 'destination', 'rate', 'connect_fee', 'min_duration',
    'increment_first', 'increment_next', 'valid_from', 'valid_to',
    'priority', 'time_band')
BAND_COLUMNS = ('name', 'days', 'start', 'end', 'timezone', 'holidays')
CDR_COLUMNS = ('call_id', 'caller', 'callee', 'start', 'duration',
    'direction')


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self):
        column = f" column {self.column}:" if self.column else ''
        return f"{self.file}:{self.line}:{column} {self.reason}"


class InvalidFile(ValueError):
    "A CSV file with problems; ``problems`` lists them all."

    def __init__(self, problems):
        self.problems = tuple(problems)
        super().__init__('\n'.join(map(str, self.problems)))


class _Rows:
    """The rows of a CSV file as dicts keyed by lower-case column.

    Records problems instead of raising; ``field`` turns one cell into a
    value with a parser, recording its problem and returning None.
    """

    def __init__(self, source, columns, required):
        self.name = str(getattr(source, 'name', source))
        self.columns, self.required = columns, required
        self.problems = []
        self.line = 1

    def read(self, source):
        if isinstance(source, io.IOBase):
            yield from self._read(source)
        else:
            with open(source, newline='', encoding='utf-8-sig') as file:
                yield from self._read(file)

    def _read(self, file):
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            self.problem(None, "the file is empty")
            return
        header = [h.strip().lower() for h in header]
        for name in header:
            if name not in self.columns:
                self.problem(name, "unknown column; expected some of "
                    + ', '.join(self.columns))
            elif header.count(name) > 1:
                self.problem(name, "column given twice")
        for name in self.required:
            if name not in header:
                self.problem(name, "required column is missing")
        if self.problems:
            return
        for values in reader:
            self.line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                self.problem(None, f"{len(values)} fields, "
                    f"the header has {len(header)}")
                continue
            row = dict(zip(header, (v.strip() for v in values)))
            yield row

    def problem(self, column, reason):
        self.problems.append(Problem(self.name, self.line, column, reason))

    def field(self, row, column, parse, default=None):
        value = row.get(column, '')
        if not value:
            if column in self.required:
                self.problem(column, "a value is required")
            return default
        try:
            return parse(value)
        except (ValueError, InvalidOperation, ArithmeticError) as exception:
            self.problem(column, f"{value!r}: {exception}")
            return None

    def check(self):
        if self.problems:
            raise InvalidFile(self.problems)


def _digits(value):
    if not value.isdigit():
        raise ValueError("not a string of digits")
    return value


def _number(value):
    "An E.164 number; a leading + is accepted and dropped."
    return _digits(value[1:] if value.startswith('+') else value)


def _amount(value):
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("not a number")
    if not amount.is_finite() or amount < 0:
        raise ValueError("not a number at least 0")
    to_nano(amount)
    return amount


def _integer(minimum):
    def parse(value):
        if not value.lstrip('-').isdigit():
            raise ValueError("not a whole number")
        number = int(value)
        if number < minimum:
            raise ValueError(f"less than {minimum}")
        return number
    return parse


def _instant(value):
    "An ISO 8601 date or datetime; without offset it is UTC."
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _instant_with_offset(value):
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("no UTC offset (e.g. +01:00 or Z)")
    return epoch(moment)


def read_rate_deck(source, band_names=frozenset()):
    """Return the list of Rate of the deck ``source`` (path or text file).

    ``band_names`` are the time bands a rate may name.
    """
    rows = _Rows(source, DECK_COLUMNS, ('prefix', 'rate'))
    rates, seen = [], {}
    for row in rows.read(source):
        count = len(rows.problems)
        prefix = rows.field(row, 'prefix', _digits)
        price = rows.field(row, 'rate', _amount)
        connect_fee = rows.field(row, 'connect_fee', _amount, Decimal(0))
        minimum = rows.field(row, 'min_duration', _integer(0), 0)
        first = rows.field(row, 'increment_first', _integer(1), 1)
        next_ = rows.field(row, 'increment_next', _integer(1), 1)
        valid_from = rows.field(row, 'valid_from', _instant)
        valid_to = rows.field(row, 'valid_to', _instant)
        priority = rows.field(row, 'priority', _integer(-10 ** 9), 0)
        band = row.get('time_band') or None
        if band is not None and band not in band_names:
            rows.problem('time_band', f"unknown time band {band!r}")
        if (valid_from is not None and valid_to is not None
                and valid_to <= valid_from):
            rows.problem('valid_to', "not after valid_from")
        key = (prefix, valid_from, band, priority)
        if key in seen:
            rows.problem('prefix', "same prefix, valid_from, time_band and "
                f"priority as line {seen[key]}")
        seen.setdefault(key, rows.line)
        if len(rows.problems) == count:
            rates.append(Rate(prefix, price, row.get('destination', ''),
                    connect_fee, minimum, first, next_, valid_from, valid_to,
                    priority, band))
    rows.check()
    return rates


def _days(value):
    days = set()
    for token in value.lower().replace(' ', '').split(','):
        first, _, last = token.partition('-')
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError("days are mon…sun, e.g. mon-fri or sat,sun")
        day, last = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.add(day)
        while day != last:
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def _minutes(value):
    hours, _, minutes = value.partition(':')
    hours, minutes = int(hours), int(minutes)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (
            hours == 24 and minutes):
        raise ValueError("not a time HH:MM from 00:00 to 24:00")
    return hours * 60 + minutes


def _start_minutes(value):
    minutes = _minutes(value)
    if minutes == 1440:
        raise ValueError("a window cannot start at 24:00")
    return minutes


def _zone(value):
    try:
        ZoneInfo(value)
    except (LookupError, ValueError):
        raise ValueError("unknown IANA time zone")
    return value


def _dates(value):
    return frozenset(dt.date.fromisoformat(d)
        for d in value.replace(';', ' ').split())


def read_time_bands(source):
    """Return the list of TimeBand of the file ``source``.

    ``holidays`` is an optional column of ISO dates separated by spaces or
    semicolons.
    """
    rows = _Rows(source, BAND_COLUMNS, BAND_COLUMNS[:5])
    bands, zones = [], {}
    for row in rows.read(source):
        count = len(rows.problems)
        name = rows.field(row, 'name', str)
        days = rows.field(row, 'days', _days)
        start = rows.field(row, 'start', _start_minutes)
        end = rows.field(row, 'end', _minutes)
        zone = rows.field(row, 'timezone', _zone)
        holidays = rows.field(row, 'holidays', _dates, frozenset())
        if zones.setdefault(name, zone) != zone:
            rows.problem('timezone', f"band {name} is in {zones[name]} "
                "on another line")
        if len(rows.problems) == count:
            bands.append(TimeBand(name, days, start, end, zone, holidays))
    rows.check()
    return bands


def read_cdrs(source, chains):
    """Return the list of Call of the CDR file ``source``.

    ``chains`` maps a direction to the chain of levels its calls are rated
    on. Starts are kept as UTC epoch seconds.
    """
    rows = _Rows(
        source, CDR_COLUMNS, ('call_id', 'callee', 'start', 'duration'))
    calls, seen = [], {}
    for row in rows.read(source):
        count = len(rows.problems)
        call_id = rows.field(row, 'call_id', str)
        caller = rows.field(row, 'caller', _number, '')
        callee = rows.field(row, 'callee', _number)
        start = rows.field(row, 'start', _instant_with_offset)
        duration = rows.field(row, 'duration', _integer(0))
        direction = row.get('direction', '').lower() or 'outbound'
        if direction not in DIRECTIONS:
            rows.problem('direction', f"{direction!r} is not one of "
                + ', '.join(DIRECTIONS))
        if call_id in seen:
            rows.problem('call_id', f"same call as line {seen[call_id]}")
        seen.setdefault(call_id, rows.line)
        if len(rows.problems) == count:
            calls.append(Call(call_id, chains.get(direction, ()), caller,
                    callee, start, duration, direction))
    rows.check()
    return calls
