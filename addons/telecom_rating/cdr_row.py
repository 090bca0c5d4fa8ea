"""The CDR row: what a stored call detail record is made of, its defaults
and what makes it plausible — defined once for every writer.

Two writers store CDRs: the call-control API with plain SQL on its hot
path (telecom_switch/api/store.py) and ``Cdr.ingest`` in Tryton (imports,
tests, benchmarks, the demo). Both build their rows with ``cdr_row``: a
field one of them forgot (``service``, ``pdd_ms``) or a check one of them
skipped (864,000 billable seconds on a 10-second call, a start in 9999)
cannot happen again.

No trytond import: the API uses it without a Tryton transaction.
"""
import datetime as dt
from dataclasses import dataclass

UTC = dt.timezone.utc

DIRECTIONS = ('outbound', 'inbound')
SERVICES = ('voice', 'fax', 'sms')
DISPOSITIONS = ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED')
# An SMS is priced per message: a delivered one is stored as 60 billable
# units, so the price "per minute" of an SMS plan is its price per message
# (and the API's price_per_minute of an authorized SMS is that price).
SMS_UNITS = 60
MAX_SECONDS = 864000        # 10 days: no call is longer
MAX_PDD_MS = 3600 * 1000

# The columns a writer gives, in this order (``values``); the rest of a
# new CDR is fixed: its account's tenant (company), unrated, version 0.
COLUMNS = ('switch', 'call_id', 'leg', 'account', 'caller', 'callee',
    'direction', 'service', 'start', 'answer', 'end', 'duration',
    'disposition', 'hangup_cause', 'carrier', 'pdd_ms')
# Their SQL types (PostgreSQL's unnest of one array per column)
SQL_TYPES = {
    'account': 'integer', 'start': 'timestamp', 'answer': 'timestamp',
    'end': 'timestamp', 'duration': 'integer', 'hangup_cause': 'integer',
    'pdd_ms': 'integer',
    }


class Invalid(ValueError):
    "A value refused: ``field`` names it, ``reason`` says why"

    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Window:
    """When a call may have started, and how much longer than its start to
    its end its billable time may be (clocks and rounding of switches)."""
    earliest: dt.datetime = dt.datetime(2000, 1, 1)
    future: dt.timedelta = dt.timedelta(days=1)
    tolerance: dt.timedelta = dt.timedelta(seconds=5)

    @classmethod
    def from_config(cls, get):
        """From ``get(option)`` (trytond's ``[telecom]`` section, None when
        unset): ``cdr_earliest`` (ISO date), ``cdr_future_days``,
        ``cdr_tolerance_seconds``"""
        window = cls()
        earliest = get('cdr_earliest')
        future = get('cdr_future_days')
        tolerance = get('cdr_tolerance_seconds')
        return cls(
            dt.datetime.fromisoformat(earliest) if earliest
            else window.earliest,
            dt.timedelta(days=float(future)) if future else window.future,
            dt.timedelta(seconds=float(tolerance)) if tolerance
            else window.tolerance)


WINDOW = Window()


def naive_utc(value, field):
    "A datetime as stored: naive UTC (an aware one converted)"
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise Invalid(field, "must be a date and time")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _text(values, field, default=None, max_length=128):
    value = values.get(field)
    if value is None or value == '':
        if default is None:
            raise Invalid(field, "is required")
        return default
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    if len(value) > max_length:
        raise Invalid(field, f"is longer than {max_length} characters")
    return value


def _choice(values, field, choices, default):
    value = values.get(field) or default
    if value not in choices:
        raise Invalid(field, "must be one of " + ', '.join(choices))
    return value


def _integer(values, field, maximum, required=False):
    value = values.get(field)
    if value is None:
        if required:
            raise Invalid(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(field, "must be an integer")
    if not 0 <= value <= maximum:
        raise Invalid(field, f"must be between 0 and {maximum}")
    return value


def cdr_row(values, now=None, window=WINDOW, names=None):
    """The row of a CDR given as a dict (the keys of COLUMNS; datetimes
    aware or naive UTC), defaults filled, or Invalid naming the field.

    ``names`` maps a column to the name the writer's caller knows it by
    (the API's ``billable_seconds`` for ``duration``), for the messages.
    """
    names = names or {}

    def name(field):
        return names.get(field, field)
    if now is None:
        now = dt.datetime.now(UTC).replace(tzinfo=None)
    row = {
        'switch': _text(values, 'switch', 'default'),
        'call_id': _text(values, 'call_id'),
        'leg': _text(values, 'leg', 'a', 16),
        'account': values.get('account'),
        'caller': values.get('caller') or '',
        'callee': _text(values, 'callee', max_length=64),
        'direction': _choice(values, 'direction', DIRECTIONS, 'outbound'),
        'service': _choice(values, 'service', SERVICES, 'voice'),
        'carrier': values.get('carrier'),
        'hangup_cause': _integer(values, 'hangup_cause', 127),
        'pdd_ms': _integer(values, 'pdd_ms', MAX_PDD_MS),
        }
    if row['account'] is None:
        raise Invalid('account', "is required")
    duration = _integer(values, 'duration', MAX_SECONDS, True)
    start, answer, end = (naive_utc(values.get(f), name(f))
        for f in ('start', 'answer', 'end'))
    if start is None:
        raise Invalid(name('start'), "is required")
    if not window.earliest <= start <= now + window.future:
        raise Invalid(name('start'), "must be between %s and %s" % (
                window.earliest.isoformat(),
                (now + window.future).replace(microsecond=0).isoformat()))
    for field, moment in (('answer', answer), ('end', end)):
        if moment is not None and moment < start - window.tolerance:
            raise Invalid(name(field), "is before the start")
    disposition = values.get('disposition') or (
        'ANSWERED' if duration else 'NO ANSWER')
    row['disposition'] = _choice(
        {'disposition': disposition}, 'disposition', DISPOSITIONS, None)
    if row['service'] == 'sms':
        # A message, not a time: delivered or not.
        duration = SMS_UNITS if row['disposition'] == 'ANSWERED' else 0
    elif end is not None and (
            dt.timedelta(seconds=duration) > end - start + window.tolerance):
        raise Invalid(name('duration'), "is more than the time from start "
            "to end (%d s)" % max(0, (end - start).total_seconds()))
    row.update(start=start, answer=answer, end=end, duration=duration)
    return row


def values(row):
    "A row's values in the order of COLUMNS"
    return tuple(row[c] for c in COLUMNS)


# What a duplicate must repeat to be the same CDR (a replay): a switch
# may send a CDR again, never a different one under the same call id. Not
# the numbers: the API stores the callee as authorized (normalised), which
# a replay after the live call is gone cannot repeat.
IDENTITY = ('account', 'direction', 'service', 'start', 'duration',
    'disposition')


def conflicts(row, stored):
    """The fields of ``row`` that differ from the ``stored`` CDR of the same
    switch, call id and leg (a dict of IDENTITY), in IDENTITY order"""
    return [f for f in IDENTITY if row[f] != stored[f]]
