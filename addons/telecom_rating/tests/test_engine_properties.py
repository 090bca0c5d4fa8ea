"""Invariants of the rating engine, checked with hypothesis."""
import datetime as dt
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.telecom_rating.engine import (
    Call, Level, Markup, Rate, RatePlan, TimeBand, compile_tariff, rate_batch,
    rate_call)

UTC = dt.timezone.utc
BANDS = (
    TimeBand('day', frozenset(range(7)), 8 * 60, 20 * 60, 'Europe/Paris'),
    TimeBand('night', frozenset(range(7)), 20 * 60, 8 * 60, 'Europe/Paris'),
    )
# Prices in whole nano-units per second (× 60 per minute) and 9 decimals
# keep every cost exact, so sums can be compared without rounding noise.
prices = st.integers(0, 10 ** 6).map(lambda n: D(n * 60).scaleb(-9))
starts = st.integers(
    int(dt.datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
    int(dt.datetime(2027, 1, 1, tzinfo=UTC).timestamp()))
durations = st.integers(0, 4 * 3600)
increments = st.sampled_from([(1, 1), (30, 6), (60, 60), (60, 1)])


def banded_tariff(day, night, connect, increment=(1, 1), minimum=0):
    first, next = increment
    deck = RatePlan('P', 'EUR', (
            Rate('33', day, connect_fee=connect, time_band='day',
                increment_first=first, increment_next=next,
                min_duration=minimum),
            Rate('33', night, connect_fee=connect, time_band='night',
                increment_first=first, increment_next=next,
                min_duration=minimum)), decimals=9)
    return compile_tariff([deck], BANDS)


def rate(tariff, start, duration, chain=(Level('P'),)):
    result = rate_call(tariff, Call('c', chain, '1', '3312', start, duration))
    assert result.rated, result.reason
    return result.levels


@settings(max_examples=150, deadline=None)
@given(prices, prices, prices, increments, st.integers(0, 120), starts,
    durations, durations)
def test_cost_never_decreases_with_duration(
        day, night, connect, increment, minimum, start, a, b):
    tariff = banded_tariff(day, night, connect, increment, minimum)
    shorter, longer = sorted((a, b))
    assert (rate(tariff, start, shorter)[0].cost
        <= rate(tariff, start, longer)[0].cost)


@settings(max_examples=150, deadline=None)
@given(prices, prices, prices, starts, durations)
def test_split_call_costs_the_sum_of_its_parts(
        day, night, connect, start, duration):
    tariff = banded_tariff(day, night, connect)
    [whole] = rate(tariff, start, duration)
    parts, at = [], start
    for band, seconds in whole.bands:
        [part] = rate(tariff, at, seconds)
        assert part.bands == ((band, seconds),)
        parts.append(part.cost - connect)
        at += seconds
    expected = sum(parts) + connect if duration else D(0)
    assert whole.cost == expected


@settings(max_examples=100, deadline=None)
@given(prices, prices, starts, st.integers(1, 4 * 3600))
def test_connect_fee_charged_once(price, connect, start, duration):
    with_fee = banded_tariff(price, price, connect)
    without = banded_tariff(price, price, D(0))
    [a] = rate(with_fee, start, duration)
    [b] = rate(without, start, duration)
    assert a.cost - b.cost == connect


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(starts, durations, st.sampled_from(
                ['3312', '3399', '4471', '999'])), max_size=30))
def test_rating_is_deterministic(calls):
    tariff = banded_tariff(D('0.06'), D('0.03'), D('0.01'))
    batch = [Call(i, (Level('P'),), '1', callee, start, duration)
        for i, (start, duration, callee) in enumerate(calls)]
    first = rate_batch(tariff, batch)
    again = rate_batch(tariff, batch)
    recompiled = rate_batch(banded_tariff(D('0.06'), D('0.03'), D('0.01')),
        list(reversed(batch)))
    assert first == again
    assert first.calls == tuple(reversed(recompiled.calls))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text('0123456789', min_size=1, max_size=4),
        prices, min_size=1, max_size=12),
    st.dictionaries(st.text('0123456789', min_size=1, max_size=4),
        prices, max_size=6),
    st.text('0123456789', min_size=1, max_size=8), starts,
    st.integers(1, 600))
def test_inheritance_overrides_only_where_redefined(
        parent_rates, child_rates, number, start, duration):
    parent = RatePlan('parent', 'EUR', tuple(
            Rate(p, price) for p, price in parent_rates.items()), decimals=9)
    child = RatePlan('child', 'EUR', tuple(
            Rate(p, price) for p, price in child_rates.items()),
        decimals=9, parent='parent',
        markups={None: Markup(percent=D('0'))})
    alone = RatePlan('alone', 'EUR', tuple(
            Rate(p, price) for p, price in {**parent_rates, **child_rates}
            .items()), decimals=9)
    tariff = compile_tariff([parent, child, alone])
    call = Call('c', (Level('child'),), '1', number, start, duration)
    inherited = rate_call(tariff, call)
    merged = rate_call(tariff, Call(
            'c', (Level('alone'),), '1', number, start, duration))
    # Inheriting without markup = one plan with the child's rates laid over
    # the parent's.
    assert inherited.reason is None or 'no rate' in inherited.reason
    assert (inherited.rated, [c.cost for c in inherited.levels]) == (
        merged.rated, [c.cost for c in merged.levels])
    if inherited.rated:
        prefix = inherited.levels[0].prefix
        source = child_rates if prefix in child_rates else parent_rates
        assert inherited.levels[0].cost == source[prefix] * duration / 60
