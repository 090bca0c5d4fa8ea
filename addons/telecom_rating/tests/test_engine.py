"""Pricing rules of the rating engine, each pinned by a hand-computed cost."""
import datetime as dt
from decimal import Decimal as D

import pytest

from trytond.modules.telecom_rating.engine import (
    Bundle, BundleBalance, Call, Level, Markup, Rate, RatePlan, TariffError,
    TimeBand, charged_seconds, compile_tariff, rate_batch, rate_call)

UTC = dt.timezone.utc
MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # GMT = UTC in London
LONDON = 'Europe/London'
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
BANDS = (
    TimeBand('peak', WEEKDAYS, 8 * 60, 18 * 60, LONDON),
    TimeBand('offpeak', WEEKDAYS, 18 * 60, 8 * 60, LONDON),
    TimeBand('offpeak', frozenset({0}), 0, 8 * 60, LONDON),
    TimeBand('offpeak', WEEKEND, 0, 24 * 60, LONDON),
    )


def plan(*rates, id='P', **values):
    return RatePlan(id, values.pop('currency', 'EUR'), tuple(rates), **values)


def cost(plans, callee='441234', start=MONDAY, duration=60, bands=BANDS,
        groups=None, convert=None, **values):
    "Rate one call on the chain of all ``plans``; return its charges."
    if isinstance(plans, RatePlan):
        plans = [plans]
    tariff = compile_tariff(plans, bands, groups)
    chain = tuple(Level(p.id) for p in plans)
    result = rate_call(tariff, Call(
            'c', chain, '331', callee, start, duration, **values), convert)
    assert result.rated, result.reason
    return [c.cost for c in result.levels]


def one(plan_, **values):
    [result] = cost(plan_, **values)
    return result


def test_longest_prefix_wins():
    deck = plan(Rate('4', D('1')), Rate('44', D('0.6')), Rate('447', D('0.3')))
    # 60 s at 0.3/min = 0.3; at 0.6/min = 0.6
    assert one(deck, callee='447700') == D('0.3000')
    assert one(deck, callee='441234') == D('0.6000')
    assert one(deck, callee='49') == D('1.0000')


@pytest.mark.parametrize('start, expected', [
        # only the current rate is valid; the future one waits for April
        (dt.datetime(2026, 3, 31, 23, 59, tzinfo=UTC), D('0.1000')),
        (dt.datetime(2026, 4, 1, tzinfo=UTC), D('0.0800')),
        ])
def test_future_rates_do_not_disturb(start, expected):
    deck = plan(
        Rate('44', D('0.10'), valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC)),
        Rate('44', D('0.08'), valid_from=dt.datetime(2026, 4, 1, tzinfo=UTC)))
    assert one(deck, start=start) == expected


def test_future_longer_prefix_does_not_disturb():
    deck = plan(Rate('44', D('0.10')),
        Rate('447', D('0.50'), valid_from=dt.datetime(2026, 4, 1)))
    assert one(deck, callee='447700') == D('0.1000')


def test_priority_then_latest_valid_from():
    deck = plan(
        Rate('44', D('0.30'), priority=1,
            valid_from=dt.datetime(2025, 1, 1)),
        Rate('44', D('0.20'), valid_from=dt.datetime(2026, 1, 1)),
        Rate('44', D('0.10'), valid_from=dt.datetime(2025, 6, 1)))
    # priority 1 beats both later rates
    assert one(deck) == D('0.3000')
    deck = plan(*deck.rates[1:])
    # same priority: the latest valid_from (2026-01-01) wins
    assert one(deck) == D('0.2000')


def test_expired_rate_falls_back_to_shorter_prefix():
    deck = plan(Rate('4', D('1')),
        Rate('44', D('0.5'), valid_to=dt.datetime(2026, 1, 1)))
    assert one(deck) == D('1.0000')


@pytest.mark.parametrize('values', [
        {'duration': 0}, {'duration': 45, 'answered': False}])
def test_unanswered_or_zero_costs_nothing(values):
    deck = plan(Rate('44', D('1'), connect_fee=D('0.5'), min_duration=60))
    [charge] = rate_call(compile_tariff([deck]), Call(
            'c', (Level('P'),), '1', '441', MONDAY, **values)).levels
    assert (charge.cost, charge.charged_seconds) == (D('0.0000'), 0)


@pytest.mark.parametrize('duration, minimum, first, next, charged', [
        (1, 0, 60, 60, 60),     # billed 1 ≤ first 60
        (61, 0, 60, 60, 120),   # 60 + ceil(1/60)·60
        (61, 0, 30, 6, 66),     # 30 + ceil(31/6)=6 → 30 + 36
        (31, 0, 30, 6, 36),     # 30 + ceil(1/6)·6
        (30, 0, 30, 6, 30),     # exactly the first increment
        (7, 0, 1, 1, 7),
        (7, 20, 1, 1, 20),      # billed = max(7, 20)
        (25, 20, 30, 6, 30),    # billed 25 ≤ first 30
        ])
def test_charged_seconds(duration, minimum, first, next, charged):
    assert charged_seconds(duration, minimum, first, next) == charged


def test_cost_formula():
    deck = plan(Rate('44', D('0.12'), connect_fee=D('0.05'), min_duration=10,
            increment_first=30, increment_next=6))
    # 61 s → 30 + 36 = 66 s; 0.05 + 0.12 · 66 / 60 = 0.05 + 0.132 = 0.182
    assert one(deck, duration=61) == D('0.1820')
    # 4 s → billed 10 → charged 30 s: 0.05 + 0.12 · 30 / 60 = 0.11
    assert one(deck, duration=4) == D('0.1100')


@pytest.mark.parametrize('rounding, decimals, expected', [
        # exact cost 0.1 · 7 / 60 = 0.0116666…
        ('half-up', 4, D('0.0117')),
        ('down', 4, D('0.0116')),
        ('up', 2, D('0.02')),
        ('half-up', 2, D('0.01')),
        ('down', 0, D('0')),
        ])
def test_rounding_once_at_the_end(rounding, decimals, expected):
    deck = plan(Rate('44', D('0.1')), rounding=rounding, decimals=decimals)
    assert one(deck, duration=7) == expected


def test_half_up_on_exact_half():
    # 0.003 · 10 / 60 = 0.0005 → 0.001 half-up, 0.000 down
    deck = plan(Rate('44', D('0.003')), decimals=3)
    assert one(deck, duration=10) == D('0.001')
    deck = plan(Rate('44', D('0.003')), decimals=3, rounding='down')
    assert one(deck, duration=10) == D('0.000')


BANDED = plan(
    Rate('44', D('0.12'), 'UK', time_band='peak', connect_fee=D('0.01')),
    Rate('44', D('0.06'), 'UK', time_band='offpeak', connect_fee=D('0.02')))


def test_call_across_bands_is_split():
    start = MONDAY.replace(hour=7, minute=59, second=30)
    tariff = compile_tariff([BANDED], BANDS)
    [charge] = rate_call(tariff, Call(
            'c', (Level('P'),), '1', '441', start, 60)).levels
    # 30 s off-peak at 0.06 + 30 s peak at 0.12 + off-peak connect fee 0.02
    # = 0.03 + 0.06 + 0.02 = 0.11
    assert charge.cost == D('0.1100')
    assert charge.bands == (('offpeak', 30), ('peak', 30))


def test_increments_from_the_rate_at_start():
    deck = plan(
        Rate('44', D('0.60'), time_band='peak', increment_first=60,
            increment_next=60),
        Rate('44', D('0.06'), time_band='offpeak'))
    start = MONDAY.replace(hour=7, minute=59, second=50)
    # off-peak at start: 1/1 increments, 20 s = 10 s off-peak + 10 s peak
    # 0.06 · 10/60 + 0.60 · 10/60 = 0.01 + 0.10 = 0.11
    assert one(deck, start=start, duration=20) == D('0.1100')
    # peak at start: 60/60 → 60 s all peak = 0.60
    assert one(deck, start=start.replace(hour=8), duration=20) == D('0.6000')


def test_bands_follow_daylight_saving_time():
    # 2026-03-30 07:30 UTC is 08:30 BST (peak); a week before it is 07:30
    # GMT (off-peak). 60 s peak: 0.12 + 0.01; off-peak: 0.06 + 0.02.
    assert one(BANDED, start=dt.datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
        ) == D('0.1300')
    assert one(BANDED, start=dt.datetime(2026, 3, 23, 7, 30, tzinfo=UTC)
        ) == D('0.0800')


def test_band_wrapping_midnight_continues_next_morning():
    # Friday 23:59:30 → Saturday 00:00:30: the window starts Friday 18:00
    # and wraps; Saturday is off-peak too: 60 s at 0.06 + 0.02 = 0.08
    start = dt.datetime(2026, 3, 6, 23, 59, 30, tzinfo=UTC)
    assert one(BANDED, start=start) == D('0.0800')


def test_holiday_is_a_sunday():
    bands = tuple(
        TimeBand(b.name, b.days, b.start, b.end, b.timezone,
            frozenset({dt.date(2026, 3, 2)})) for b in BANDS)
    # Monday 2026-03-02 10:00 is a holiday: off-peak 0.06 + 0.02 = 0.08
    assert one(BANDED, bands=bands) == D('0.0800')
    assert one(BANDED) == D('0.1300')


def test_gap_in_bands_leaves_the_call_unrated():
    deck = plan(Rate('44', D('0.12'), time_band='peak'))
    tariff = compile_tariff([deck], BANDS)
    result = rate_call(tariff, Call(
            'c', (Level('P'),), '1', '441', MONDAY.replace(hour=17, minute=59),
            120))
    assert result.reason == ("no rate for 441 in plan P at "
        "2026-03-02T18:00:00Z: the time bands of prefix 44 leave a gap")


def test_unbanded_rate_fills_band_gaps():
    deck = plan(Rate('44', D('0.12'), time_band='peak'), Rate('44', D('0.03')))
    start = MONDAY.replace(hour=17, minute=59)
    # 60 s peak at 0.12 + 60 s at 0.03 = 0.12 + 0.03
    assert one(deck, start=start, duration=120) == D('0.1500')


def test_no_rate_is_unrated_with_reason():
    tariff = compile_tariff([plan(Rate('44', D('1')), id=7)])
    result = rate_batch(tariff, [Call('c', (Level(7),), '1', '99912345',
                dt.datetime(2026, 3, 1, 10, tzinfo=UTC), 60)]).calls[0]
    assert not result.rated and result.levels == ()
    assert result.reason == "no rate for 99912345 in plan 7 at " \
        "2026-03-01T10:00:00Z"


OWNER = plan(Rate('44', D('0.10'), 'UK'),
    Rate('447', D('0.20'), 'UK mobile', connect_fee=D('0.05')), id='owner')
GROUPS = {'uk-fixed': ['44'], 'uk-mobile': ['447']}


def test_inheritance_overrides_only_redefined_prefixes():
    child = plan(Rate('447', D('0.15'), 'UK mobile'), id='child',
        parent='owner')
    # 441: inherited 0.10; 447: own 0.15 without the parent's connect fee
    assert cost([OWNER, child]) == [D('0.1000'), D('0.1000')]
    assert cost([OWNER, child], callee='4477') == [D('0.2500'), D('0.1500')]


def test_child_prefix_longer_than_parent_wins():
    child = plan(Rate('4412', D('0.01')), id='child', parent='owner')
    assert cost([OWNER, child], callee='441234') == [D('0.1000'), D('0.0100')]


def test_markup_per_group():
    reseller = plan(id='reseller', parent='owner', markups={
            'uk-mobile': Markup(percent=D('10'), per_minute=D('0.01')),
            None: Markup(per_minute=D('0.02'))})
    # mobile, 90 s: parent 0.05 + 0.20 · 1.5 = 0.35; +10 % = 0.385;
    # + 0.01 · 1.5 = 0.015 → 0.4
    assert cost([OWNER, reseller], callee='4477', duration=90, groups=GROUPS
        ) == [D('0.3500'), D('0.4000')]
    # fixed, no markup of its own → default: 0.10 + 0.02 = 0.12
    assert cost([OWNER, reseller], groups=GROUPS) == [D('0.1000'), D('0.1200')]


def test_currency_converted_before_markup_and_rounding():
    reseller = plan(id='reseller', parent='owner', currency='USD',
        markups={'uk-fixed': Markup(percent=D('50'))})

    def convert(source, target, day):
        assert (source, target, day) == ('EUR', 'USD', dt.date(2026, 3, 2))
        return D('1.1')
    # 7 s: 0.10 · 7 / 60 = 0.011666… EUR → 0.0117 at level 0;
    # · 1.1 = 0.0128333… USD; · 1.5 = 0.01925 → 0.0193. Rounding at each
    # step would give 0.0117 · 1.1 → 0.0129 · 1.5 = 0.01935 → 0.0194.
    assert cost([OWNER, reseller], duration=7, groups=GROUPS,
        convert=convert) == [D('0.0117'), D('0.0193')]


def test_missing_conversion_is_unrated():
    reseller = plan(id='reseller', parent='owner', currency='USD')
    tariff = compile_tariff([OWNER, reseller])
    result = rate_call(tariff, Call('c', (Level('owner'), Level('reseller')),
            '1', '441', MONDAY, 60))
    assert result.reason == "no conversion rate from EUR to USD on 2026-03-02"


def test_three_level_chain():
    reseller = plan(id='reseller', parent='owner', markups={
            'uk-fixed': Markup(percent=D('20'))})
    customer = plan(Rate('4420', D('0.05'), 'London'), id='customer',
        parent='reseller', markups={None: Markup(per_minute=D('0.01'))})
    plans = [OWNER, reseller, customer]
    # 441: 0.10 → +20 % 0.12 → +0.01 = 0.13
    assert cost(plans, groups=GROUPS) == [
        D('0.1000'), D('0.1200'), D('0.1300')]
    # 4420: customer's own rate 0.05 (no markup on own rates)
    assert cost(plans, callee='44201', groups=GROUPS) == [
        D('0.1000'), D('0.1200'), D('0.0500')]


def test_plan_direction_must_match():
    tariff = compile_tariff([plan(Rate('44', D('1')))])
    result = rate_call(tariff, Call('c', (Level('P'),), '441', '331', MONDAY,
            60, direction='inbound'))
    assert result.reason == "plan P rates outbound voice, not inbound voice"


def test_inbound_rated_on_caller():
    tariff = compile_tariff([plan(Rate('44', D('1')), direction='inbound')])
    result = rate_call(tariff, Call('c', (Level('P'),), '441', '331', MONDAY,
            60, direction='inbound'))
    assert result.levels[0].cost == D('1.0000')


BUNDLED = plan(
    Rate('44', D('0.12'), time_band='peak', connect_fee=D('0.01')),
    Rate('44', D('0.06'), time_band='offpeak', connect_fee=D('0.02')),
    bundles=(Bundle('b', frozenset({'uk'})),))


def bundle_batch(calls, left):
    tariff = compile_tariff([BUNDLED], BANDS, {'uk': ['44']})
    return rate_batch(tariff, [
            Call(i, (Level('P', 'acct'),), '1', '441', start, duration)
            for i, start, duration in calls], balances={('acct', 'b'): left})


def test_bundle_covers_whole_call():
    result = bundle_batch([('a', MONDAY, 60)], 100)
    [charge] = result.calls[0].levels
    assert (charge.cost, charge.bundle_seconds) == (D('0.0000'), 60)
    assert result.bundle_used == {('acct', 'b'): 60}


def test_exhausted_bundle_pays_connect_and_last_seconds():
    start = MONDAY.replace(hour=7, minute=59)
    # 120 s: 60 off-peak then 60 peak; bundle covers the first 90 s,
    # the last 30 s are peak: 0.02 (connect at start) + 0.12 · 30 / 60 = 0.08
    result = bundle_batch([('a', start, 120)], 90)
    [charge] = result.calls[0].levels
    assert (charge.cost, charge.bundle_seconds) == (D('0.0800'), 90)


def test_bundle_spent_in_start_order():
    later = MONDAY + dt.timedelta(minutes=5)
    result = bundle_batch([('late', later, 60), ('early', MONDAY, 60)], 60)
    late, early = result.calls
    # the early call takes the bundle; the late one pays 0.01 + 0.12
    assert early.levels[0].cost == D('0.0000')
    assert late.levels[0].cost == D('0.1300')


def test_bundle_only_on_its_groups():
    tariff = compile_tariff([BUNDLED], BANDS, {'uk': ['449']})
    result = rate_batch(tariff, [Call('a', (Level('P', 'acct'),), '1', '441',
                MONDAY, 60)], balances={('acct', 'b'): 100})
    assert result.calls[0].levels[0].cost == D('0.1300')
    assert result.bundle_used == {}


def test_bundle_balance_rolls_over_one_month():
    balance = BundleBalance(carried=0, current=600)
    balance = balance.spend(100).next_month(600)
    assert balance == BundleBalance(500, 600)
    # spending takes the carried seconds first
    assert balance.spend(700) == BundleBalance(0, 400)
    # the seconds carried from last month expire
    assert balance.next_month(600) == BundleBalance(600, 600)


@pytest.mark.parametrize('plans, problem', [
        ([plan(Rate('4a', D('1')))], "plan P, prefix 4a: prefix is not"),
        ([plan(Rate('4', D('1'), time_band='night'))], "unknown time band"),
        ([plan(parent='X')], "parent plan X is missing"),
        ([plan(Rate('4', D('1')), Rate('4', D('2')))], "two rates with"),
        ([plan(Rate('4', D('0.0000000001')))], "more than 9 decimals"),
        ([plan(rounding='even')], "rounding 'even'"),
        ])
def test_compile_rejects(plans, problem):
    with pytest.raises(TariffError) as info:
        compile_tariff(plans, BANDS)
    assert any(problem in p for p in info.value.problems)
