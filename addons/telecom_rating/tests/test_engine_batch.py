"""The fast path of rate_batch gives exactly what the general path gives.

``_Rating.rate`` is the general path (``rate_call`` uses it); the reference
below rates a batch with it alone, in start order when bundles are at stake,
as rate_batch did before it had a fast path.
"""
import dataclasses
import datetime as dt
import gc
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.telecom_rating.engine import (
    Bundle, Call, LevelCharge, Level, Markup, Rate, RatePlan, RatedCall,
    TimeBand, compile_tariff, rate_batch)
from trytond.modules.telecom_rating.engine.rating import _Rating
from trytond.modules.telecom_rating.engine.tariff import epoch

UTC = dt.timezone.utc
ZONE = 'Europe/Paris'
BANDS = (
    TimeBand('peak', frozenset(range(5)), 8 * 60, 19 * 60, ZONE),
    TimeBand('offpeak', frozenset(range(5)), 19 * 60, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({0}), 0, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({5, 6}), 0, 24 * 60, ZONE,
        frozenset({dt.date(2026, 3, 27)})),
    )
# March 2026 in Paris: DST starts on the 29th.
MONTH = int(dt.datetime(2026, 3, 20, tzinfo=UTC).timestamp())
GROUPS = {'mobile': ['336', '337'], 'fixed': ['331'], 'uk': ['44']}


def reference(tariff, calls, convert=None, balances=None):
    starts = [c.start if type(c.start) is int else epoch(c.start)
        for c in calls]
    rating = _Rating(tariff, convert, balances)
    order = range(len(calls))
    if rating.left:
        order = sorted(order, key=starts.__getitem__)
    results = [None] * len(calls)
    for i in order:
        results[i] = rating.rate(calls[i], starts[i])
    return tuple(results), rating.used


def assert_same(tariff, calls, convert=None, balances=None):
    expected, used = reference(tariff, calls, convert, balances)
    result = rate_batch(tariff, calls, convert, balances)
    for call, got, want in zip(calls, result.calls, expected):
        assert got == want, call
        assert type(got) is RatedCall
        assert all(type(level) is LevelCharge for level in got.levels)
    assert result.bundle_used == used
    return result


def rates(prefixes, price, first=1, next=1, banded=True, connect='0',
        minimum=0):
    for prefix in prefixes:
        for band, factor in ((('peak', 1), ('offpeak', 2)) if banded
                else ((None, 1),)):
            yield Rate(prefix, D(price) / factor, 'to ' + prefix,
                connect_fee=D(connect), min_duration=minimum,
                increment_first=first, increment_next=next, time_band=band)


def chain_plans(rounding='half-up', percent='12.5', per_minute='0.001',
        customer_own=('3361',), reseller_currency='USD', first=30,
        next=6):
    owner = RatePlan('owner', 'EUR', tuple(rates(
                ['33', '331', '336', '3361', '44'], '0.123456788', first,
                next, connect='0.01')), rounding=rounding)
    reseller = RatePlan('reseller', reseller_currency,
        tuple(rates(['337'], '0.2', banded=False)), parent='owner',
        markups={'mobile': Markup(D(percent), D(per_minute)),
            None: Markup(D('3'))}, decimals=5, rounding=rounding)
    customer = RatePlan('customer', reseller_currency, tuple(rates(
                customer_own, '0.05', first, next)), parent='reseller',
        markups={None: Markup(D('1'), D('0.0002'))}, decimals=2,
        bundles=(Bundle('b', frozenset({'mobile'})),))
    return [owner, reseller, customer]


CHAIN = (Level('owner', 'r'), Level('reseller', 'c'), Level('customer', 'c'))


def convert(source, target, day):
    if day == dt.date(2026, 3, 25):
        return None  # no rate that day: unrated
    return D('1.08') + D(day.day) / 1000


numbers = st.sampled_from(
    ['33112345', '3361234', '3367', '337000', '33999', '4471', '99', '3'])
calls = st.lists(st.tuples(
        numbers, st.integers(0, 10 * 86400), st.integers(-1, 4000),
        st.booleans(), st.sampled_from(['outbound', 'inbound'])),
    max_size=40)


def make_calls(specs, chain=CHAIN):
    return [Call(i, chain, '33100', number, MONTH + offset, duration,
            direction='outbound' if direction == 'outbound' or i % 7
            else 'inbound', answered=answered or i % 3 != 0)
        for i, (number, offset, duration, answered, direction)
        in enumerate(specs)]


@settings(max_examples=60, deadline=None)
@given(calls, st.sampled_from(['half-up', 'up', 'down']),
    st.sampled_from(['12.5', '0', '-150', '33.333']),
    st.sampled_from([(1, 1), (30, 6), (60, 60)]),
    st.sampled_from(['USD', 'EUR']), st.integers(0, 900))
def test_fast_path_matches_general_path(specs, rounding, percent,
        increments, currency, balance):
    tariff = compile_tariff(chain_plans(rounding, percent,
            reseller_currency=currency, first=increments[0],
            next=increments[1]), BANDS, GROUPS)
    batch = make_calls(specs)
    balances = {('c', 'b'): balance} if balance else None
    assert_same(tariff, batch, convert, balances)
    # A second batch on the same tariff (memos filled) changes nothing.
    assert_same(tariff, batch, convert, balances)


def test_long_batch_through_every_case():
    tariff = compile_tariff(chain_plans(), BANDS, GROUPS)
    specs = []
    for i in range(3000):
        number = ['33112345', '3361234', '3367', '337000', '33999', '4471',
            '99'][i % 7]
        # Starts every 347 s over 12 days: band edges, midnight, DST, the
        # holiday and the day without a conversion rate.
        specs.append((number, i * 347, (i * 37) % 2000 - 10, i % 11 != 0,
                'outbound'))
    balances = {('c', 'b'): 5000}
    result = assert_same(tariff, make_calls(specs), convert, balances)
    assert sum(result.bundle_used.values()) == 5000
    reasons = {c.reason.split(':')[0][:20] for c in result.calls
        if not c.rated}
    assert len(reasons) >= 2  # no rate, no conversion rate


def test_dated_rates_and_single_level_chains():
    dated = RatePlan('dated', 'EUR', (
            Rate('33', D('0.1'), valid_to=dt.datetime(2026, 3, 25)),
            Rate('33', D('0.2'), valid_from=dt.datetime(2026, 3, 25)),
            Rate('3', D('0.3'))))
    child = RatePlan('child', 'EUR', (Rate('331', D('0.05')),),
        parent='dated', markups={None: Markup(D('10'))})
    tariff = compile_tariff([dated, child], BANDS, GROUPS)
    specs = [(n, i * 4000, 61, True, 'outbound')
        for i, n in enumerate(['3312', '3399', '399', '3312'] * 60)]
    assert_same(tariff, make_calls(specs, (Level('dated'), Level('child'))))
    assert_same(tariff, make_calls(specs, (Level('child'),)))
    # A chain that is no inheritance line, with a plan twice.
    assert_same(tariff, make_calls(
            specs, (Level('child'), Level('dated'), Level('child'))))


def test_unknown_plan_and_wrong_direction():
    tariff = compile_tariff(chain_plans(), BANDS, GROUPS)
    specs = [('3361234', 100, 60, True, 'inbound')] * 3
    assert_same(tariff, make_calls(specs, (Level('owner'), Level('nope'))))
    assert_same(tariff, make_calls(specs))


def test_results_are_frozen_and_gc_restored():
    tariff = compile_tariff(chain_plans(), BANDS, GROUPS)
    result = rate_batch(tariff, make_calls(
            [('3361234', 100, 60, True, 'outbound')]), convert)
    charge = result.calls[0].levels[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        charge.cost = D(0)
    assert hash(charge) == hash(dataclasses.replace(charge))
    assert gc.isenabled()
    gc.disable()
    try:
        rate_batch(tariff, [], convert)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_costs_hand_computed_on_the_fast_path():
    # 90 s peak (Monday 2026-03-23 10:00 Paris = 09:00 UTC) to 336: owner
    # 0.01 + 0.123456788 · 90 / 60 = 0.195185182 → 0.1952 (EUR, 4 dec.);
    # reseller: · 1.103 (23 March) · 1.125 + 0.001 · 1.5 = 0.2436... USD
    # customer: · 1.01 + 0.0002 · 1.5 (2 decimals).
    start = int(dt.datetime(2026, 3, 23, 9, tzinfo=UTC).timestamp())
    tariff = compile_tariff(chain_plans(first=1, next=1), BANDS, GROUPS)
    [call] = rate_batch(tariff, [Call('x', CHAIN, '1', '3369', start, 90)],
        convert).calls
    owner = D('0.01') + D('0.123456788') * 90 / 60
    reseller = owner * D('1.103') * D('1.125') + D('0.001') * 90 / 60
    customer = reseller * D('1.01') + D('0.0002') * 90 / 60
    assert [c.cost for c in call.levels] == [
        owner.quantize(D('0.0001')), reseller.quantize(D('0.00001')),
        customer.quantize(D('0.01'))]
    assert call.levels[0].bands == (('peak', 90),)


def test_bundle_order_when_factors_fail():
    # A negative markup (-150 %) leaves the conversion-dependent factors
    # negative: such calls take the general path, and still spend the
    # bundle in start order (the call at +1 s waits for the one at 0 s).
    tariff = compile_tariff(chain_plans('half-up', '-150', first=1, next=1),
        BANDS, GROUPS)
    specs = [('337000', 0, 1658, True, 'outbound'),
        ('3367', 1, 2, True, 'outbound')]
    batch = make_calls(list(reversed(specs)))
    result = assert_same(tariff, batch, convert, {('c', 'b'): 576})
    assert [c.levels[2].bundle_seconds for c in result.calls] == [0, 576]


# --- real tariffs: per-level increments, dated rates, per-tenant bands ----

# 25 March 2026 10:00 UTC: a price change, 5 days into the test's calls.
CHANGE = dt.datetime(2026, 3, 25, 10, tzinfo=UTC)
JANUARY = dt.datetime(2026, 1, 1, tzinfo=UTC)


def tenant_bands(tenant, zone, morning, evening, holidays=frozenset()):
    "A tenant's own peak/off-peak bands, named after it"
    return (
        TimeBand(f'{tenant}:peak', frozenset(range(5)), morning * 60,
            evening * 60, zone),
        TimeBand(f'{tenant}:offpeak', frozenset(range(5)), evening * 60,
            morning * 60, zone),
        TimeBand(f'{tenant}:offpeak', frozenset({0}), 0, morning * 60, zone),
        TimeBand(f'{tenant}:offpeak', frozenset({5, 6}), 0, 24 * 60, zone,
            holidays))


# The owner's bands; 'same' has the owner's windows under its own names
# (one schedule for both), 'ny' others in another time zone.
TENANT_BANDS = (
    tenant_bands('owner', ZONE, 8, 19, frozenset({dt.date(2026, 3, 27)}))
    + tenant_bands('same', ZONE, 8, 19)
    + tenant_bands('ny', 'America/New_York', 9, 18))
REAL_PREFIXES = ('33', '331', '336', '3361', '33612', '44', '447', '4478')
INCREMENT_CHOICES = ((1, 1), (30, 6), (60, 60), (60, 1))


def real_deck(generator, tenant, prefixes, price):
    """Rates of ``prefixes`` in ``tenant``'s bands, each prefix with its
    own increments, minimum, fee, bands and dates drawn at random."""
    for prefix in prefixes:
        first, next_ = generator.choice(INCREMENT_CHOICES)
        minimum = generator.choice((0, 0, 45))
        fee = generator.choice(('0', '0', '0.0125'))
        dates = generator.choice((
                [(None, None)], [(None, None)],
                [(JANUARY, CHANGE), (CHANGE, None)],  # current and future
                [(CHANGE, None)],  # loaded for later
                [(None, CHANGE)],  # withdrawn
                [(None, None), (CHANGE, None)],  # a new price from then
                ))
        banded = generator.random() < 0.6
        for n, (since, until) in enumerate(dates):
            value = D(price) + D(n) / 100 + D(len(prefix)) / 1000
            bands = ((f'{tenant}:peak', 1), (f'{tenant}:offpeak', 2))
            for band, factor in (bands if banded else ((None, 1),)):
                yield Rate(prefix, value / factor, f'{tenant} {prefix}',
                    connect_fee=D(fee), min_duration=minimum,
                    increment_first=first, increment_next=next_,
                    valid_from=since, valid_to=until, time_band=band,
                    priority=1 if since == CHANGE and n else 0)


def real_plans(seed):
    """A random tariff as operators run them: the owner's deck, a reseller
    (another currency, its own bands, markups), two retail plans."""
    import random
    generator = random.Random(seed)
    sample = lambda k: generator.sample(REAL_PREFIXES, k)  # noqa: E731
    reseller_bands = generator.choice(('same', 'ny', 'owner'))
    return [
        RatePlan('owner', 'EUR', tuple(real_deck(
                    generator, 'owner', REAL_PREFIXES, '0.123456788')),
            rounding=generator.choice(('half-up', 'up', 'down'))),
        RatePlan('reseller', generator.choice(('USD', 'EUR')), tuple(
                real_deck(generator, reseller_bands, sample(2), '0.2')),
            parent='owner', decimals=5, rounding='up', markups={
                'mobile': Markup(D('12.5'), D('0.001')),
                None: Markup(D('3'))}),
        RatePlan('retail', 'USD', tuple(real_deck(
                    generator, generator.choice(('ny', reseller_bands)),
                    sample(generator.choice((0, 2, len(REAL_PREFIXES)))),
                    '0.05')),
            parent='reseller', decimals=2,
            markups={None: Markup(D('1'), D('0.0002'))},
            bundles=(Bundle('b', frozenset({'mobile'})),)),
        RatePlan('plain', 'EUR', (), parent='owner',
            markups={None: Markup(D('20'))}),
        ]


REAL_NUMBERS = ('33112345', '3361234', '336129', '3367', '337000', '33999',
    '447812', '4471', '449', '99')
real_calls = st.lists(st.tuples(
        st.sampled_from(REAL_NUMBERS), st.integers(0, 10 * 86400),
        st.integers(-1, 4000), st.booleans(), st.just('outbound')),
    max_size=40)
REAL_CHAINS = (CHAIN[:2] + (Level('customer', 'c'),),)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10 ** 6), real_calls, st.integers(0, 900))
def test_fast_path_matches_general_path_on_real_tariffs(seed, specs,
        balance):
    plans = real_plans(seed)
    tariff = compile_tariff(plans, TENANT_BANDS, GROUPS)
    balances = {('c', 'b'): balance} if balance else None
    for chain in [
            (Level('owner', 'r'), Level('reseller', 'c'),
                Level('retail', 'c')),
            (Level('owner', 'r'), Level('plain', 'c')),
            (Level('retail', 'c'),)]:
        batch = make_calls(specs, chain)
        assert_same(tariff, batch, convert, balances)
        # The memos filled by the first batch change nothing.
        assert_same(tariff, batch, convert, balances)


def test_real_tariffs_take_the_fast_path(monkeypatch):
    """Per-level increments, dated rates and each tenant's bands are
    priced on the fast path: only calls across a band or validity
    boundary, bundles and unrated calls go through the general path."""
    owner = RatePlan('owner', 'EUR', (
            Rate('33', D('0.1'), increment_first=30, increment_next=6,
                time_band='owner:peak'),
            Rate('33', D('0.05'), increment_first=30, increment_next=6,
                time_band='owner:offpeak'),
            Rate('44', D('0.2'), increment_first=1, increment_next=1,
                valid_to=CHANGE),
            Rate('44', D('0.3'), increment_first=1, increment_next=1,
                valid_from=CHANGE),
            Rate('447', D('0.4'), valid_from=CHANGE)))
    reseller = RatePlan('reseller', 'USD', (
            Rate('336', D('0.2'), increment_first=60, increment_next=60,
                time_band='ny:peak'),
            Rate('336', D('0.1'), increment_first=60, increment_next=60,
                time_band='ny:offpeak')),
        parent='owner', markups={None: Markup(D('10'))})
    retail = RatePlan('retail', 'USD', (
            Rate('33', D('0.5'), increment_first=60, increment_next=60),
            Rate('44', D('0.6'), increment_first=60, increment_next=60,
                time_band='same:peak'),
            Rate('44', D('0.3'), increment_first=60, increment_next=60,
                time_band='same:offpeak')),
        parent='reseller')
    tariff = compile_tariff([owner, reseller, retail], TENANT_BANDS)
    chain = (Level('owner', 'r'), Level('reseller', 'c'),
        Level('retail', 'c'))
    # Calls of 30 s every 10 minutes over 10 days, 7 s past: none
    # crosses a band edge; the price change on the 25th is inside, a day
    # without a conversion rate (unrated).
    specs = [(('3312', '3361', '4471', '4412')[i % 4], i * 600 + 7, 30,
            True, 'outbound') for i in range(1440)]
    batch = make_calls(specs, chain)
    general = []
    rate = _Rating.rate

    def counted(self, call, start):
        general.append(call)
        return rate(self, call, start)
    monkeypatch.setattr(_Rating, 'rate', counted)
    result = rate_batch(tariff, batch, convert)
    monkeypatch.undo()
    # Only the calls of the day without a conversion rate that need one
    # (all but those to 3361: the reseller's own rate, in USD like the
    # retail plan, and the owner's in EUR).
    assert sum(not c.rated for c in result.calls) == 144 * 3 // 4
    assert len(general) == 144 * 3 // 4
    assert result.calls == reference(tariff, batch, convert)[0]


def test_costs_hand_computed_with_per_level_increments_and_dates():
    """Owner 30/6 with a new price from the 25th 10:00, reseller inherits
    with a markup, the retail plan bills its own rate 60/60."""
    owner = RatePlan('owner', 'EUR', (
            Rate('44', D('0.12'), increment_first=30, increment_next=6,
                valid_to=CHANGE),
            Rate('44', D('0.18'), connect_fee=D('0.01'), increment_first=30,
                increment_next=6, valid_from=CHANGE)))
    reseller = RatePlan('reseller', 'EUR', (), parent='owner',
        markups={None: Markup(D('10'), D('0.002'))})
    retail = RatePlan('retail', 'EUR', (
            Rate('44', D('0.30'), increment_first=60, increment_next=60),),
        parent='reseller', decimals=2, rounding='up')
    tariff = compile_tariff([owner, reseller, retail])
    chain = (Level('owner', 'r'), Level('reseller', 'c'),
        Level('retail', 'c'))
    before = epoch(CHANGE) - 3600
    after = epoch(CHANGE) + 3600
    calls = [Call(n, chain, '1', '4420', at, 61)
        for n, at in enumerate((before, after, before))]
    result = rate_batch(tariff, calls)
    first, second, third = result.calls
    # 61 s → 30 + 6 · 6 = 66 s at 30/6; 120 s at 60/60.
    assert [c.charged_seconds for c in first.levels] == [66, 66, 120]
    # Before: 0.12 · 66 / 60 = 0.132; reseller 0.132 · 1.1 + 0.002 · 1.1
    # = 0.1474; retail 0.30 · 2 = 0.60.
    assert [c.cost for c in first.levels] == [
        D('0.1320'), D('0.1474'), D('0.60')]
    # After: 0.01 + 0.18 · 1.1 = 0.208; reseller 0.208 · 1.1 + 0.0022
    # = 0.2310.
    assert [c.cost for c in second.levels] == [
        D('0.2080'), D('0.2310'), D('0.60')]
    assert third == dataclasses.replace(first, call_id=2)


def test_equal_dated_rates_of_two_prefixes():
    """Equal rates of two prefixes are one compiled object: each call
    still reports its own prefix, before and after the price change."""
    rates = []
    for prefix in ('4478', '4479'):
        rates += [
            Rate(prefix, D('0.1'), 'UK Mobile', valid_to=CHANGE),
            Rate(prefix, D('0.2'), 'UK Mobile', valid_from=CHANGE)]
    tariff = compile_tariff([RatePlan('owner', 'EUR', rates),
            RatePlan('retail', 'EUR', (), parent='owner',
                markups={None: Markup(D('10'))})])
    index = tariff.plans['owner'].index
    assert index['4478'].rates == index['4479'].rates
    chain = (Level('owner'), Level('retail'))
    specs = [(number, offset, 60, True, 'outbound')
        for offset in (4 * 86400, 6 * 86400) for number in ('447812',
            '447912', '447813')]
    result = assert_same(tariff, make_calls(specs, chain))
    assert [c.levels[1].prefix for c in result.calls] == [
        '4478', '4479', '4478'] * 2
    assert [c.levels[1].cost for c in result.calls] == [D('0.1100')] * 3 + [
        D('0.2200')] * 3
