"""Compile the tariff of the database into the engine's indexes.

Read with plain SQL (a deck of a million rates is read in seconds, not
through the ORM) and kept in ``plan.tariff_cache``: Tryton clears that
cache in every process when a plan, rate, markup, band, group or bundle
changes, so the next call is priced with the new prices.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import As

from trytond import backend
from trytond.pool import Pool
from trytond.tools import sqlite_apply_types
from trytond.transaction import Transaction

from .engine import (
    Bundle, Markup, Rate, RatePlan, TimeBand, compile_tariff)
from .plan import tariff_cache


def load_tariff():
    "Return the compiled tariff of the current database"
    cached = tariff_cache.get('tariff')
    if cached is not None:
        return cached[0]
    tariff = compile_database_tariff()
    # A tuple: the cache stores a shallow copy, never the tariff's guts.
    tariff_cache.set('tariff', (tariff,))
    return tariff


def _select(table, columns, types, **kwargs):
    query = table.select(
        *(As(c, f'c{i}') for i, c in enumerate(columns)), **kwargs)
    if backend.name == 'sqlite':
        sqlite_apply_types(query, types)
    return query


def _utc(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc)


def database_groups():
    "{destination group code: [prefixes]} of the database"
    pool = Pool()
    Group = pool.get('telecom.destination.group')
    Prefix = pool.get('telecom.destination.prefix')
    cursor = Transaction().connection.cursor()
    group = Group.__table__()
    prefix = Prefix.__table__()
    cursor.execute(*_select(
            prefix.join(group, condition=prefix.group == group.id),
            [group.code, prefix.prefix], [None, None]))
    groups = defaultdict(list)
    for code, digits in cursor:
        groups[code].append(digits)
    return groups


def database_time_bands():
    "The engine's TimeBand windows of the database, named by band id"
    pool = Pool()
    Band = pool.get('telecom.time_band')
    Window = pool.get('telecom.time_band.window')
    cursor = Transaction().connection.cursor()
    band = Band.__table__()
    window = Window.__table__()
    cursor.execute(*_select(
            window.join(band, condition=window.band == band.id),
            [band.id, band.timezone, band.holidays, window.id],
            [None, None, None, None]))
    band_rows = cursor.fetchall()
    windows = Window.browse([r[3] for r in band_rows])
    time_bands = []
    for (band_id, zone, holidays, _), record in zip(band_rows, windows):
        start = record.start.hour * 60 + record.start.minute
        end = (record.end.hour * 60 + record.end.minute
            if record.end else 1440)
        time_bands.append(TimeBand(
                str(band_id), record.day_numbers(), start, end, zone,
                frozenset(dt.date.fromisoformat(d)
                    for d in (holidays or '').split())))
    return time_bands


def database_rates(table, where, extra=()):
    """Stream the engine's Rates of ``table`` (telecom.rate or a table of
    the same columns) selected by ``where``; ``extra`` columns come first
    in each yielded (extra values, Rate)."""
    cursor = Transaction().connection.cursor()
    cursor.execute(*_select(table,
            [*extra, table.prefix, table.price, table.destination,
                table.connect_fee, table.min_duration,
                table.increment_first, table.increment_next,
                table.valid_from, table.valid_to, table.priority,
                table.time_band],
            [None] * len(extra) + [None, 'NUMERIC', None, 'NUMERIC', None,
                None, None, 'TIMESTAMP', 'TIMESTAMP', None, None],
            where=where))
    size = len(extra)
    for row in cursor:
        (prefix_, price, destination, connect_fee, minimum, first, next_,
            valid_from, valid_to, priority, band_id) = row[size:]
        yield row[:size], Rate(
            prefix_, Decimal(price), destination or '',
            Decimal(connect_fee), minimum, first, next_,
            _utc(valid_from), _utc(valid_to), priority,
            str(band_id) if band_id else None)


def compile_database_tariff():
    pool = Pool()
    Plan = pool.get('telecom.rate.plan')
    Rate_ = pool.get('telecom.rate')
    Markup_ = pool.get('telecom.rate.plan.markup')
    Group = pool.get('telecom.destination.group')
    Bundle_ = pool.get('telecom.bundle')
    BundleGroup = pool.get('telecom.bundle-telecom.destination.group')
    Currency = pool.get('currency.currency')
    cursor = Transaction().connection.cursor()
    group = Group.__table__()
    groups = database_groups()
    time_bands = database_time_bands()

    markup = Markup_.__table__()
    cursor.execute(*_select(
            markup.join(group, 'LEFT', condition=markup.group == group.id),
            [markup.plan, group.code, markup.percent, markup.per_minute],
            [None, None, 'NUMERIC', 'NUMERIC']))
    markups = defaultdict(dict)
    for plan_id, code, percent, per_minute in cursor:
        markups[plan_id][code] = Markup(
            Decimal(percent), Decimal(per_minute))

    bundle = Bundle_.__table__()
    bundle_group = BundleGroup.__table__()
    cursor.execute(*_select(
            bundle.join(bundle_group, 'LEFT',
                condition=bundle_group.bundle == bundle.id
                ).join(group, 'LEFT',
                condition=bundle_group.group == group.id),
            [bundle.plan, bundle.id, group.code], [None, None, None]))
    bundle_groups = defaultdict(lambda: defaultdict(set))
    for plan_id, bundle_id, code in cursor:
        bundle_groups[plan_id][bundle_id].add(code)

    plan = Plan.__table__()
    currency = Currency.__table__()
    cursor.execute(*_select(
            plan.join(currency, condition=plan.currency == currency.id),
            [plan.id, currency.code, plan.decimals, plan.rounding,
                plan.direction, plan.service, plan.parent],
            [None] * 7))
    plan_rows = cursor.fetchall()

    rate = Rate_.__table__()

    def rates_of(plan_id):
        # Streamed by the cursor: the engine keeps only its compiled form.
        for _, rate_ in database_rates(rate, rate.plan == plan_id):
            yield rate_

    plans = [
        RatePlan(
            plan_id, code, rates_of(plan_id), decimals, rounding,
            direction, service, parent, markups.get(plan_id, {}),
            tuple(Bundle(b, frozenset(g - {None}))
                for b, g in sorted(bundle_groups[plan_id].items())))
        for (plan_id, code, decimals, rounding, direction, service, parent)
        in plan_rows]
    return compile_tariff(plans, time_bands, groups)


class Converter:
    """Currency conversion for the engine: Tryton's rate at the call's date.

    Tryton keeps, per currency, how many units of it one unit of the
    reference is worth; the rate from A to B is therefore rate(B) / rate(A).
    """

    def __init__(self):
        self.rates = {}

    def rate_of(self, code, date):
        key = (code, date)
        if key not in self.rates:
            pool = Pool()
            CurrencyRate = pool.get('currency.currency.rate')
            found = CurrencyRate.search([
                    ('currency.code', '=', code),
                    ('date', '<=', date),
                    ], order=[('date', 'DESC')], limit=1)
            self.rates[key] = found[0].rate if found else None
        return self.rates[key]

    def __call__(self, source, target, date):
        if source == target:
            return Decimal(1)
        source_rate = self.rate_of(source, date)
        target_rate = self.rate_of(target, date)
        if not source_rate or not target_rate:
            return None
        return target_rate / source_rate
