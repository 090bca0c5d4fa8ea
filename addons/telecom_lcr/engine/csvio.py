"""Readers of the carriers and quality statistics CSV files.

They follow the rating engine's readers (whose row reader they use):
case-insensitive headers, unknown columns rejected by name, a file with
any bad row rejected whole with every problem listed. Carrier decks are
read with the rating engine's ``read_rate_deck``.
"""
from decimal import Decimal

from trytond.modules.telecom_rating.engine.csvio import _integer, _Rows

from .model import CARRIER_STATES, TRANSPORTS, Carrier, Gateway, QualityStats

CARRIER_COLUMNS = (
    'id', 'name', 'currency', 'gateway', 'transport', 'tech_prefix',
    'strip_digits', 'add_prefix', 'rewrite_pattern', 'rewrite_replacement',
    'max_calls', 'calls_per_second', 'allowed_accounts', 'allowed_plans',
    'state')
STATS_COLUMNS = ('carrier', 'group', 'asr', 'acd', 'pdd', 'samples')


def _choice(choices):
    def parse(value):
        value = value.lower()
        if value not in choices:
            raise ValueError("not one of " + ', '.join(choices))
        return value
    return parse


def _digits_or_empty(value):
    if not value.isdigit():
        raise ValueError("not a string of digits")
    return value


def _names(value):
    return frozenset(value.replace(';', ' ').split())


def _decimal(value):
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError("not a number at least 0")
    return amount


def read_carriers(source):
    """Return the list of Carrier of the file ``source`` (path or file).

    ``gateway`` holds one or more addresses separated by spaces (tried in
    order); ``allowed_accounts`` and ``allowed_plans`` ids separated by
    spaces or semicolons.
    """
    rows = _Rows(source, CARRIER_COLUMNS, ('id', 'currency', 'gateway'))
    carriers, seen = [], {}
    for row in rows.read(source):
        count = len(rows.problems)
        id_ = rows.field(row, 'id', str)
        currency = rows.field(row, 'currency', str.upper)
        transport = rows.field(
            row, 'transport', _choice(TRANSPORTS), 'udp')
        addresses = rows.field(row, 'gateway', str.split, [])
        tech_prefix = rows.field(row, 'tech_prefix', str, '')
        strip = rows.field(row, 'strip_digits', _integer(0), 0)
        add = rows.field(row, 'add_prefix', _digits_or_empty, '')
        pattern = row.get('rewrite_pattern') or None
        replacement = row.get('rewrite_replacement', '')
        max_calls = rows.field(row, 'max_calls', _integer(0))
        per_second = rows.field(row, 'calls_per_second', _integer(0))
        accounts = rows.field(row, 'allowed_accounts', _names, frozenset())
        plans = rows.field(row, 'allowed_plans', _names, frozenset())
        state = rows.field(row, 'state', _choice(CARRIER_STATES), 'active')
        if id_ in seen:
            rows.problem('id', f"same carrier as line {seen[id_]}")
        seen.setdefault(id_, rows.line)
        if len(rows.problems) == count:
            carriers.append(Carrier(id_, row.get('name') or id_, currency,
                    tuple(Gateway(a, transport) for a in addresses),
                    state, tech_prefix, strip, add,
                    (pattern, replacement) if pattern else None,
                    max_calls, per_second, accounts, plans))
    rows.check()
    return carriers


def read_quality_stats(source):
    """Return {(carrier, group or None): QualityStats} of ``source``.

    ``asr`` in percent, ``acd`` and ``pdd`` in seconds; an empty ``group``
    is the statistics of every destination.
    """
    rows = _Rows(source, STATS_COLUMNS, ('carrier', 'asr', 'acd'))
    stats = {}
    for row in rows.read(source):
        count = len(rows.problems)
        carrier = rows.field(row, 'carrier', str)
        group = row.get('group') or None
        asr = rows.field(row, 'asr', _decimal)
        acd = rows.field(row, 'acd', _decimal)
        pdd = rows.field(row, 'pdd', _decimal, Decimal(0))
        samples = rows.field(row, 'samples', _integer(0), 0)
        if (carrier, group) in stats:
            rows.problem('carrier', "statistics given twice")
        if len(rows.problems) == count:
            stats[carrier, group] = QualityStats(asr, acd, pdd, samples)
    rows.check()
    return stats
