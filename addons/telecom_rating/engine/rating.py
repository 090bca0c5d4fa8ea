"""Rating calls at every tenant level of their chain.

A level's price is worked out as an exact fraction (``Price``) and rounded
once, when the level's charge is made. A plan that inherits the prefix from
its parent starts from the parent's unrounded price for the same call,
converted and marked up, so a chain owner → reseller → customer lays the
call on the time bands once.
"""
import datetime as dt
from dataclasses import dataclass

from . import batch
from .model import LevelCharge, RatedCall
from .money import NANO, ratio, round_fraction
from .tariff import PrefixRates, epoch, resolved

PER_SECOND = 60 * NANO
UNKNOWN = object()


@dataclass(slots=True, eq=False)
class Price:
    """The unrounded price of a call in one plan.

    Worth (connect × 60 + Σ per_minute × seconds) / (60 × NANO × scale)
    in ``currency``; ``pieces`` are (band, seconds, per_minute) in
    timeline order, their seconds sum to ``charged``.
    """
    prefix: str
    destination: str
    charged: int
    bands: tuple  # (band, seconds): what LevelCharge.bands reports
    pieces: tuple
    connect: int
    scale: int
    currency: str


def charged_seconds(duration, minimum, first, next):
    "Return the seconds charged for ``duration`` billable seconds."
    billed = duration if duration > minimum else minimum
    if billed <= first:
        return first
    return first - (first - billed) // next * next


def _iso(instant):
    return dt.datetime.fromtimestamp(instant, dt.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%SZ')


class _Rating:
    "The state of one rating run: conversion rates and bundle balances."

    def __init__(self, tariff, convert, balances):
        self.tariff = tariff
        self.convert = convert
        self.conversions = {}
        self.left = dict(balances or {})
        self.used = {}

    def rate(self, call, start):
        plans = self.tariff.plans
        number = call.callee if call.direction == 'outbound' else call.caller
        context = [number, start, UNKNOWN]  # number, start, group
        prices = {}
        chain = []
        for level in call.chain:
            plan = plans.get(level.plan)
            if plan is None:
                return RatedCall(call.call_id, reason=f"unknown plan "
                    f"{level.plan}")
            price = prices.get(plan.id)
            if price is None:
                price = self.price(plan, call, context, prices)
            if type(price) is str:
                return RatedCall(call.call_id, reason=price)
            chain.append((level, plan, price))
        levels = []
        for level, plan, price in chain:
            covered = 0
            if (plan.bundles and level.account is not None
                    and price.charged and self.left):
                covered = self.spend(
                    level.account, plan.bundles, self.group(context),
                    price.charged)
            levels.append(charge(plan, price, covered))
        return RatedCall(call.call_id, tuple(levels))

    def group(self, context):
        if context[2] is UNKNOWN:
            context[2] = self.tariff.group_of(context[0])
        return context[2]

    def price(self, plan, call, context, prices):
        "Return the Price of the call in ``plan``, or why there is none."
        number, start = context[0], context[1]
        if call.direction != plan.direction or call.service != plan.service:
            return (f"plan {plan.id} rates {plan.direction} {plan.service}, "
                f"not {call.direction} {call.service}")
        found = find_rates(plan, number, start)
        if found is None:
            return f"no rate for {number} in plan {plan.id} at {_iso(start)}"
        prefix, entry = found
        if entry.rates[0].plan != plan.id:
            parent = self.tariff.plans[plan.parent]
            price = prices.get(parent.id)
            if price is None:
                price = self.price(parent, call, context, prices)
                prices[parent.id] = price
            if type(price) is not str:
                price = self.inherit(plan, price, context)
        else:
            if entry.uniform is None:
                entry = resolved(self.tariff, entry.rates)
            price = self.own_price(plan, call, context, prefix, entry)
        prices[plan.id] = price
        return price

    def own_price(self, plan, call, context, prefix, entry):
        number, start = context[0], context[1]
        rates = entry.rates
        rate = rates[0]
        duration = call.duration
        if duration <= 0 or not call.answered:
            return Price(prefix, rate.destination, 0, (), (), 0, 1,
                plan.currency)
        schedule = entry.schedule
        if schedule is None:
            # The strongest rate applies at all times.
            charged = charged_seconds(
                duration, rate.minimum, rate.first, rate.next)
            return Price(prefix, rate.destination, charged,
                ((None, charged),), ((None, charged, rate.price),),
                rate.connect, 1, plan.currency)
        if not entry.uniform:
            pieces, gap = schedule.lay(start, 1)
            if gap is None:
                rate = rates[pieces[0][0]]
        charged = charged_seconds(
            duration, rate.minimum, rate.first, rate.next)
        pieces, gap = schedule.lay(start, charged)
        if gap is not None:
            return (f"no rate for {number} in plan {plan.id} at "
                f"{_iso(gap)}: the time bands of prefix {prefix} leave a gap")
        at_start = rates[pieces[0][0]]
        if len(pieces) == 1:
            band = at_start.band
            return Price(prefix, at_start.destination, charged,
                ((band, charged),), ((band, charged, at_start.price),),
                at_start.connect, 1, plan.currency)
        return Price(prefix, at_start.destination, charged,
            tuple((rates[i].band, seconds) for i, seconds in pieces),
            tuple((rates[i].band, seconds, rates[i].price)
                for i, seconds in pieces),
            at_start.connect, 1, plan.currency)

    def inherit(self, plan, price, context):
        "Return the parent's ``price`` converted and marked up for ``plan``."
        multiplier, divisor = 1, 1
        if price.currency != plan.currency:
            conversion = self.conversion(
                price.currency, plan.currency, context[1])
            if conversion is None:
                return (f"no conversion rate from {price.currency} to "
                    f"{plan.currency} on {_iso(context[1])[:10]}")
            multiplier, divisor = conversion
        fixed = 0
        if plan.markups:
            percent, percent_divisor, fixed = plan.markup(
                self.group(context))
            multiplier *= percent
            divisor *= percent_divisor
        if multiplier == divisor and not fixed:
            if price.currency == plan.currency:
                return price
            multiplier = divisor = 1
        scale = price.scale * divisor
        fixed *= scale
        pieces = price.pieces
        if len(pieces) == 1:
            (band, seconds, per_minute), = pieces
            pieces = ((band, seconds, per_minute * multiplier + fixed),)
        else:
            pieces = tuple((band, seconds, per_minute * multiplier + fixed)
                for band, seconds, per_minute in pieces)
        return Price(price.prefix, price.destination, price.charged,
            price.bands, pieces, price.connect * multiplier, scale,
            plan.currency)

    def conversion(self, source, target, start):
        key = (source, target, start // 86400)
        conversion = self.conversions.get(key, UNKNOWN)
        if conversion is UNKNOWN:
            day = dt.datetime.fromtimestamp(start, dt.timezone.utc).date()
            rate = self.convert(source, target, day) if self.convert else None
            conversion = ratio(rate) if rate is not None else None
            self.conversions[key] = conversion
        return conversion

    def spend(self, account, bundles, group, charged):
        "Take up to ``charged`` seconds from the account's bundles."
        covered = 0
        for bundle, groups in bundles:
            if group not in groups:
                continue
            key = (account, bundle)
            left = self.left.get(key, 0)
            taken = min(left, charged - covered)
            if taken > 0:
                self.left[key] = left - taken
                self.used[key] = self.used.get(key, 0) + taken
                covered += taken
                if covered == charged:
                    break
        return covered


def find_rates(plan, number, start):
    """Return (prefix, PrefixRates in force at ``start``) or None.

    The longest prefix with a rate valid at ``start`` wins; its rates are
    those of the nearest plan in the inheritance line that has one valid.
    """
    index = plan.index
    size = len(number)
    for length in plan.lengths:
        if length > size:
            continue
        prefix = number[:length]
        entry = index.get(prefix)
        if entry is None:
            continue
        if not entry.dated:
            return prefix, entry
        valid = [r for r in entry.rates if r.valid_from <= start < r.valid_to]
        if valid:
            tier = valid[0].plan
            return prefix, PrefixRates(tuple(
                    r for r in valid if r.plan == tier), False)
    return None


def charge(plan, price, covered):
    """Return the LevelCharge of ``price`` in ``plan``.

    ``covered`` bundle seconds are the first of the call; a call fully
    covered costs nothing, otherwise the connect fee and the rest are due.
    """
    charged = price.charged
    pieces = price.pieces
    if covered >= charged:
        total = 0
    else:
        total = price.connect * 60
        skip = covered
        for _, seconds, per_minute in pieces:
            if skip >= seconds:
                skip -= seconds
                continue
            total += per_minute * (seconds - skip)
            skip = 0
    cost = round_fraction(
        total, PER_SECOND * price.scale, plan.decimals, plan.rounding)
    return LevelCharge(plan.id, price.prefix, price.destination, charged,
        cost, plan.currency, covered, price.bands)


def rate_batch(tariff, calls, convert=None, balances=None):
    """Rate ``calls`` (Call) at every level of their chains.

    ``convert(source, target, date)`` returns the Decimal rate that turns
    an amount in ``source`` currency into ``target`` (None if unknown).
    ``balances`` maps (account, bundle id) to available seconds; calls
    spend them in start order. Never raises for a call: a call that
    cannot be rated comes back with a reason.
    """
    return batch.rate_batch(tariff, calls, _Rating(tariff, convert, balances))


def rate_call(tariff, call, convert=None):
    "Rate one call without bundles; see rate_batch."
    start = call.start if type(call.start) is int else epoch(call.start)
    return _Rating(tariff, convert, None).rate(call, start)
