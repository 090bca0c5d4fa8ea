"""Routing rules of the LCR engine, each pinned by a hand-computed order."""
import datetime as dt
from decimal import Decimal as D

import pytest

from trytond.modules.telecom_lcr.engine import (
    Carrier, CarrierDeck, CarrierUsage, Gateway, PlanRouting, QualityStats,
    RoutingError, RoutingPolicy, RoutingRule, compile_routing, route_call)
from trytond.modules.telecom_rating.engine import Rate, TimeBand

UTC = dt.timezone.utc
MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # GMT = UTC in London
LONDON = 'Europe/London'
BANDS = (
    TimeBand('peak', frozenset(range(5)), 8 * 60, 18 * 60, LONDON),
    TimeBand('offpeak', frozenset(range(5)), 18 * 60, 8 * 60, LONDON),
    TimeBand('offpeak', frozenset({0}), 0, 8 * 60, LONDON),
    TimeBand('offpeak', frozenset({5, 6}), 0, 24 * 60, LONDON),
    )


def carrier(id, currency='EUR', **values):
    values.setdefault('gateways', (Gateway(f'{id.lower()}.example.net'),))
    return Carrier(id, f'Carrier {id}', currency, **values)


def rates(*pairs, **values):
    "Rates from (prefix, price) pairs."
    return [Rate(prefix, D(price), **values) for prefix, price in pairs]


# A: 44 at 0.020; B: 44 at 0.015; C: 4 at 0.030 and 441 at 0.010.
DECKS = {
    'A': rates(('44', '0.020')),
    'B': rates(('44', '0.015')),
    'C': rates(('4', '0.030'), ('441', '0.010')),
    }


def compile(carriers=None, decks=DECKS, policies=None, plans=None,
        **values):
    if carriers is None:
        carriers = [carrier(c) for c in decks]
    if policies is None:
        policies = [RoutingPolicy('lcr', 'P')]
    if plans is None:
        plans = [PlanRouting('P', 'EUR')]
    return compile_routing(carriers, [
            CarrierDeck(c, r) if not isinstance(r, CarrierDeck) else r
            for c, r in decks.items()], plans, policies, **values)


def route(index, callee='442070', plan='P', caller='33123', at=MONDAY,
        service='voice', **values):
    return route_call(index, plan, service, caller, callee, at, **values)


def order(decision):
    return [r.carrier for r in decision.routes]


def skips(decision):
    return {s.carrier: s.reason for s in decision.skipped}


# Least cost ----------------------------------------------------------------

def test_least_cost_orders_by_cost_of_each_carriers_longest_prefix():
    index = compile()
    # 442…: B 0.015 (44), A 0.020 (44), C 0.030 (4)
    decision = route(index, '442070')
    assert order(decision) == ['B', 'A', 'C']
    assert [r.cost_per_minute for r in decision.routes] == [
        D('0.015'), D('0.020'), D('0.030')]
    assert [r.prefix for r in decision.routes] == ['44', '44', '4']
    assert decision.reason is None and decision.skipped == ()
    # 441…: C 0.010 on its longer prefix 441
    assert order(route(index, '441234')) == ['C', 'B', 'A']
    # 49…: only C covers it
    decision = route(index, '4930')
    assert order(decision) == ['C']
    assert skips(decision) == {'A': 'no_rate', 'B': 'no_rate'}


def test_ties_go_to_lower_connect_fee_then_carrier_order():
    decks = {
        'A': rates(('44', '0.02'), connect_fee=D('0.01')),
        'B': rates(('44', '0.02')),
        'C': rates(('44', '0.02')),
        'D': rates(('44', '0.02'), connect_fee=D('0.01')),
        }
    assert order(route(compile(decks=decks))) == ['B', 'C', 'A', 'D']
    carriers = [carrier(c) for c in 'DCBA']
    assert order(route(compile(carriers, decks))) == ['C', 'B', 'D', 'A']


def test_new_price_takes_effect_at_its_valid_from():
    april = dt.datetime(2026, 4, 1, tzinfo=UTC)
    decks = dict(DECKS, B=[
            Rate('44', D('0.015'), valid_to=april),
            Rate('44', D('0.025'), valid_from=april)])
    index = compile(decks=decks)
    before = april - dt.timedelta(seconds=1)
    assert order(route(index, at=before)) == ['B', 'A', 'C']
    decision = route(index, at=april)
    assert order(decision) == ['A', 'B', 'C']
    assert decision.routes[1].cost_per_minute == D('0.025')
    # Epoch seconds work as well as datetimes.
    assert order(route(index, at=int(april.timestamp()))) == ['A', 'B', 'C']


def test_longer_prefix_for_later_does_not_capture_earlier_calls():
    april = dt.datetime(2026, 4, 1, tzinfo=UTC)
    decks = dict(DECKS, A=rates(('44', '0.020')) + [
            Rate('4420', D('0.001'), valid_from=april)])
    index = compile(decks=decks)
    decision = route(index, at=MONDAY)
    assert order(decision) == ['B', 'A', 'C']
    assert decision.routes[1].prefix == '44'
    decision = route(index, at=april)
    assert order(decision) == ['A', 'B', 'C']
    assert decision.routes[0].prefix == '4420'
    # Outside 4420, A keeps its 44 price in April.
    assert order(route(index, '4430', at=april)) == ['B', 'A', 'C']


def test_time_bands_change_the_order():
    decks = {
        'A': rates(('44', '0.05'), time_band='peak')
        + rates(('44', '0.01'), time_band='offpeak'),
        'B': rates(('44', '0.03')),
        }
    index = compile(decks=decks, time_bands=BANDS)
    assert order(route(index, at=MONDAY)) == ['B', 'A']
    evening = MONDAY.replace(hour=19)
    decision = route(index, at=evening)
    assert order(decision) == ['A', 'B']
    assert decision.routes[0].cost_per_minute == D('0.01')


def test_band_gap_means_no_rate_at_that_time():
    decks = {'A': rates(('44', '0.05'), time_band='peak'),
        'B': rates(('44', '0.03'))}
    index = compile(decks=decks, time_bands=BANDS)
    assert order(route(index, at=MONDAY)) == ['B', 'A']
    decision = route(index, at=MONDAY.replace(hour=20))
    assert order(decision) == ['B']
    assert skips(decision) == {'A': 'no_rate'}


def usd_to_eur(rate):
    def convert(source, target, date):
        assert date == MONDAY.date()
        return D(rate) if (source, target) == ('USD', 'EUR') else None
    return convert


def test_currency_conversion_changes_the_order():
    carriers = [carrier('A'), carrier('B', 'USD')]
    decks = {'A': rates(('44', '0.020')), 'B': rates(('44', '0.021'))}
    # 0.021 USD × 0.9 = 0.0189 EUR < 0.020
    index = compile(carriers, decks, convert=usd_to_eur('0.9'))
    decision = route(index)
    assert order(decision) == ['B', 'A']
    assert decision.routes[0].cost_per_minute == D('0.0189')
    assert decision.routes[0].currency == 'EUR'
    # 0.021 USD × 1 = 0.021 EUR > 0.020
    index = index.with_convert(usd_to_eur('1'))
    assert order(route(index)) == ['A', 'B']


@pytest.mark.parametrize('day_rate, expected', [
        ('0.9', ['B', 'A', 'C']), ('0.99', ['A', 'B', 'C']),
        ('2', ['A', 'C', 'B'])])
def test_pre_ordered_currencies_follow_the_days_rate(day_rate, expected):
    # Pre-ordered at 0.9 (B 0.0189, A 0.020, C 0.030); the day's rate
    # keeps or changes that order.
    carriers = [carrier('A'), carrier('B', 'USD'), carrier('C')]
    decks = {'A': rates(('44', '0.020')), 'B': rates(('44', '0.021')),
        'C': rates(('44', '0.030'))}
    reference = dt.date(2026, 1, 1)

    def convert(source, target, date):
        return D('0.9') if date == reference else D(day_rate)
    index = compile(carriers, decks, convert=convert, order_date=reference)
    assert order(route(index)) == expected
    assert order(route(index, max_routes=1)) == expected[:1]


def test_missing_conversion_rate_skips_the_carrier():
    carriers = [carrier('B', 'USD')]
    index = compile(carriers, {'B': rates(('44', '0.021'))})
    decision = route(index)
    assert decision.routes == ()
    assert skips(decision) == {'B': 'no_rate'}
    assert decision.reason == (
        "no carrier can take 442070 (voice, plan P) at 2026-03-02T10:00:00Z:"
        " 1 carrier without a rate; no conversion rate from USD to EUR on "
        "2026-03-02")


# Other strategies ----------------------------------------------------------

def test_priority_follows_the_listed_order():
    index = compile(policies=[RoutingPolicy('p', 'P', strategy='priority',
                carriers=('C', 'A', 'B'))])
    assert order(route(index, '441234')) == ['C', 'A', 'B']
    assert order(route(index, '442070')) == ['C', 'A', 'B']
    # A carrier left out of the list is never used.
    index = compile(policies=[RoutingPolicy('p', 'P', strategy='priority',
                carriers=('A', 'C'))])
    decision = route(index)
    assert order(decision) == ['A', 'C']
    assert decision.skipped == ()


@pytest.mark.parametrize('call_id, expected', [
        # crc32(call id) % 6 picks the first carrier by cumulated weight
        # (A 1: [0, 1), B 2: [1, 3), C 3: [3, 6)); the others follow by
        # weight, heaviest first.
        ('call-3', ['A', 'C', 'B']),  # 0
        ('call-2', ['B', 'C', 'A']),  # 2
        ('call-4', ['C', 'B', 'A']),  # 3
        ('call-5', ['C', 'B', 'A']),  # 5
        ])
def test_weighted_is_deterministic_per_call(call_id, expected):
    index = compile(policies=[RoutingPolicy('w', 'P', strategy='weighted',
                weights={'A': 1, 'B': 2, 'C': 3})])
    decision = route(index, call_id=call_id)
    assert order(decision) == expected
    assert decision == route(index, call_id=call_id)


def test_weighted_spreads_calls_by_ratio():
    index = compile(policies=[RoutingPolicy('w', 'P', strategy='weighted',
                weights={'A': 3, 'B': 1})])
    firsts = [order(route(index, call_id=i))[0] for i in range(4000)]
    assert 2800 < firsts.count('A') < 3200
    # crc32('call-0') % 4 = 2 → A; crc32('call-4') % 4 = 3 → B
    assert order(route(index, call_id='call-0')) == ['A', 'B']
    assert order(route(index, call_id='call-4')) == ['B', 'A']


def quality_stats(**values):
    return {(c, None): QualityStats(D(asr), D(acd), D(pdd), samples)
        for c, (asr, acd, pdd, samples) in values.items()}


def test_quality_orders_by_asr_then_acd_then_cost():
    index = compile(policies=[RoutingPolicy('q', 'P', strategy='quality')])
    stats = quality_stats(
        A=('40', '100', '2', 500), B=('60', '90', '2', 500),
        C=('60', '120', '2', 500))
    assert order(route(index, stats=stats)) == ['C', 'B', 'A']
    # Without statistics, quality falls back to cost.
    assert order(route(index)) == ['B', 'A', 'C']


def test_quality_thresholds_exclude_and_few_samples_are_neutral():
    policy = RoutingPolicy('q', 'P', strategy='quality', min_asr=D(50),
        max_pdd=D(5), min_samples=100)
    index = compile(policies=[policy])
    stats = quality_stats(
        A=('40', '100', '2', 500), B=('70', '90', '2', 500),
        C=('10', '10', '9', 20))
    decision = route(index, stats=stats)
    # A is below 50 % ASR; C has 20 calls only: neutral, it counts as the
    # mean of the measured carriers (ASR 55) and sorts after B (70).
    assert order(decision) == ['B', 'C']
    assert skips(decision) == {'A': 'quality'}
    # Thresholds apply to the least-cost strategy too.
    policy = RoutingPolicy('q', 'P', min_asr=D(50), min_samples=100)
    decision = route(compile(policies=[policy]), stats=stats)
    assert order(decision) == ['B', 'C']
    assert skips(decision) == {'A': 'quality'}


def test_quality_statistics_per_destination_group():
    policy = RoutingPolicy('q', 'P', strategy='quality')
    index = compile(policies=[policy], groups={'uk-london': ['4420']})
    stats = {('A', 'uk-london'): QualityStats(D(90), D(60)),
        ('B', 'uk-london'): QualityStats(D(30), D(60)),
        ('A', None): QualityStats(D(10), D(60)),
        ('B', None): QualityStats(D(50), D(60))}
    assert order(route(index, '442070', stats=stats)) == ['A', 'C', 'B']
    assert order(route(index, '443070', stats=stats)) == ['B', 'C', 'A']


# Rules ---------------------------------------------------------------------

def test_caller_id_rules_choose_the_carriers():
    policy = RoutingPolicy('lcr', 'P', rules=(
            RoutingRule(caller_prefix='33', strategy='priority',
                carriers=('C',)),))
    index = compile(policies=[policy])
    assert order(route(index, caller='33612345678')) == ['C']
    assert order(route(index, caller='4930123')) == ['B', 'A', 'C']


def test_most_specific_rule_wins():
    policy = RoutingPolicy('lcr', 'P', rules=(
            RoutingRule(callee_prefix='44', strategy='priority',
                carriers=('A', 'B')),
            RoutingRule(callee_prefix='4420', carriers=('A', 'C')),
            RoutingRule(callee_prefix='4420', caller_prefix='33',
                strategy='priority', carriers=('C', 'A')),
            RoutingRule(callee_prefix='4420', caller_prefix='331',
                max_routes=1),
            RoutingRule(group='london', strategy='priority',
                carriers=('B',)),
            ))
    index = compile(policies=[policy], groups={'london': ['44207']})
    # 4430: only the 44 rule applies
    assert order(route(index, '443012', caller='49')) == ['A', 'B']
    # 4420 beats 44; the least-cost rule applies to other callers
    assert order(route(index, '442070', caller='49')) == ['A', 'C']
    # the longer caller prefix wins among 4420 rules
    assert order(route(index, '442070', caller='3361')) == ['C', 'A']
    assert order(route(index, '442070', caller='3312')) == ['B']
    # 331 + 4420: least cost, one route, over the policy's carriers
    policy = RoutingPolicy('lcr', 'P', rules=policy.rules[:4])
    index = compile(policies=[policy])
    assert order(route(index, '442070', caller='3312')) == ['B']


def test_group_rule_beats_the_policy_default_but_not_a_longer_prefix():
    policy = RoutingPolicy('lcr', 'P', rules=(
            RoutingRule(group='uk', strategy='priority',
                carriers=('C', 'A')),
            RoutingRule(callee_prefix='441', carriers=('A',)),
            ))
    index = compile(policies=[policy], groups={'uk': ['44']})
    assert order(route(index, '442070')) == ['C', 'A']
    assert order(route(index, '441234')) == ['A']
    assert order(route(index, '4930')) == ['C']


def test_max_routes_from_policy_rule_and_call():
    index = compile(policies=[RoutingPolicy('lcr', 'P', max_routes=2)])
    assert order(route(index)) == ['B', 'A']
    assert order(route(index, max_routes=1)) == ['B']
    assert order(route(index, max_routes=5)) == ['B', 'A', 'C']


def test_services_are_routed_independently():
    decks = {'A': CarrierDeck('A', rates(('44', '0.02'))),
        'B': CarrierDeck('B', rates(('44', '0.03')), service='sms')}
    index = compile(decks=decks, policies=[
            RoutingPolicy('voice', 'P'),
            RoutingPolicy('sms', 'P', service='sms', strategy='priority',
                carriers=('B',))])
    assert order(route(index)) == ['A']
    assert skips(route(index)) == {'B': 'no_rate'}
    assert order(route(index, service='sms')) == ['B']
    decision = route(index, service='fax')
    assert decision.reason == ("plan P has no fax routing policy, nor has "
        "any plan it is built on")


# Carriers ------------------------------------------------------------------

def test_restriction_to_accounts_and_plans():
    carriers = [carrier('A', allowed_accounts=frozenset({'acme'})),
        carrier('B', allowed_plans=frozenset({'premium'})), carrier('C')]
    plans = [PlanRouting('standard', 'EUR'), PlanRouting('premium', 'EUR'),
        PlanRouting('gold', 'EUR', parent='premium')]
    policies = [RoutingPolicy('std', 'standard'),
        RoutingPolicy('pre', 'premium')]
    index = compile(carriers, policies=policies, plans=plans)
    decision = route(index, plan='standard', account='other')
    assert order(decision) == ['C']
    assert skips(decision) == {'A': 'restricted', 'B': 'restricted'}
    assert order(route(index, plan='standard', account='acme')) == ['A', 'C']
    assert order(route(index, plan='premium')) == ['B', 'C']
    # A plan built on premium is premium: its customers may use B.
    decision = route(index, plan='gold')
    assert order(decision) == ['B', 'C']
    assert decision.inherited and decision.policy == 'pre'


def test_disabled_and_over_capacity_carriers_are_skipped():
    carriers = [carrier('A', max_calls=10), carrier('B', state='disabled'),
        carrier('C', calls_per_second=5)]
    index = compile(carriers)
    decision = route(index)
    assert order(decision) == ['A', 'C']
    assert skips(decision) == {'B': 'disabled'}
    usage = {'A': CarrierUsage(10, 0), 'C': CarrierUsage(3, 4)}
    decision = route(index, usage=usage)
    assert order(decision) == ['C']
    assert skips(decision) == {'B': 'disabled', 'A': 'over_capacity'}
    usage = {'A': CarrierUsage(9, 0), 'C': CarrierUsage(3, 5)}
    decision = route(index, usage=usage)
    assert order(decision) == ['A']
    assert skips(decision) == {'B': 'disabled', 'C': 'over_capacity'}


def test_number_rewriting_and_tech_prefix():
    carriers = [
        carrier('A', strip_digits=2, add_prefix='0', tech_prefix='123#',
            gateways=(Gateway('sip:gw.a.net:5061', 'tls'),
                Gateway('gw2.a.net'))),
        carrier('B', add_prefix='00',
            gateways=(Gateway('PJSIP/{number}@carrier-b'),)),
        carrier('C', rewrite=(r'^44(\d+)$', r'+44-\1'), tech_prefix='7#'),
        ]
    decision = route(compile(carriers))
    a, b, c = sorted(decision.routes)
    assert (a.number, a.dialstring) == (
        '123#02070', 'sip:123#02070@gw.a.net:5061;transport=tls')
    assert a.gateway == Gateway('sip:gw.a.net:5061', 'tls')
    assert (b.number, b.dialstring) == (
        '00442070', 'PJSIP/00442070@carrier-b')
    assert (c.number, c.dialstring) == (
        '7#+44-2070', 'sip:7#+44-2070@c.example.net')


# Guards --------------------------------------------------------------------

def test_loss_guard_and_max_cost():
    index = compile(policies=[RoutingPolicy('lcr', 'P', loss_guard=True)])
    decision = route(index, sell_price=D('0.020'))
    # costing exactly the sell price is no loss
    assert order(decision) == ['B', 'A']
    assert skips(decision) == {'C': 'loss'}
    decision = route(index, sell_price=D('0.0149'))
    assert decision.routes == ()
    assert decision.reason == (
        "no carrier can take 442070 (voice, plan P) at 2026-03-02T10:00:00Z:"
        " 3 carriers dearer than the sell price")
    decision = route(index)
    assert decision.routes == ()
    assert decision.reason == ("policy lcr guards against loss or keeps a "
        "margin, and the call has no sell price")
    index = compile(policies=[RoutingPolicy('lcr', 'P', loss_guard=True,
                max_cost=D('0.018'))])
    decision = route(index, sell_price=D('0.025'))
    assert order(decision) == ['B']
    assert skips(decision) == {'A': 'max_cost', 'C': 'max_cost'}


def test_margin_guard_for_unlimited_ivr():
    # sell 0.032: absolute margin 0.004 → cost ≤ 0.028; 20 % → ≤ 0.0256.
    policy = RoutingPolicy('ivr', 'P', loss_guard=True, min_margin=D('0.004'),
        min_margin_percent=D(20))
    decision = route(compile(policies=[policy]), sell_price=D('0.032'))
    assert order(decision) == ['B', 'A']
    assert skips(decision) == {'C': 'margin'}
    # 0.013 → cost ≤ 0.019, stricter than 20 %
    policy = RoutingPolicy('ivr', 'P', min_margin=D('0.013'),
        min_margin_percent=D(20))
    decision = route(compile(policies=[policy]), sell_price=D('0.032'))
    assert order(decision) == ['B']
    assert skips(decision) == {'A': 'margin', 'C': 'margin'}


def test_guards_in_another_currency_than_the_plan():
    # The policy's plan is in EUR; a USD plan built on it inherits it: the
    # cost and the sell price are in USD, the maximum cost converted.
    carriers = [carrier('A'), carrier('B'), carrier('C')]
    plans = [PlanRouting('P', 'EUR'), PlanRouting('U', 'USD', parent='P')]
    policy = RoutingPolicy('lcr', 'P', max_cost=D('0.025'))

    def convert(source, target, date):
        return {('EUR', 'USD'): D('2'), ('USD', 'EUR'): D('0.5')}.get(
            (source, target))
    index = compile(carriers, plans=plans, policies=[policy],
        convert=convert)
    decision = route(index, plan='U')
    assert order(decision) == ['B', 'A']
    assert [r.cost_per_minute for r in decision.routes] == [
        D('0.030'), D('0.040')]
    assert skips(decision) == {'C': 'max_cost'}


# Resellers -----------------------------------------------------------------

def reseller_index(routing_tenants):
    carriers = [carrier('A'), carrier('B'), carrier('R1', tenant='R')]
    decks = {'A': rates(('44', '0.02')), 'B': rates(('44', '0.01')),
        'R1': rates(('44', '0.05'))}
    plans = [PlanRouting('wholesale', 'EUR'),
        PlanRouting('retail', 'EUR', parent='wholesale', tenant='R')]
    policies = [RoutingPolicy('owner', 'wholesale'),
        RoutingPolicy('reseller', 'retail')]
    return compile(carriers, decks, policies, plans,
        routing_tenants=routing_tenants)


def test_reseller_in_control_routes_on_its_own_policy():
    decision = route(reseller_index({'R'}), plan='retail')
    assert order(decision) == ['R1']
    assert (decision.policy, decision.tenant, decision.inherited) == (
        'reseller', 'R', False)
    assert decision.view('R') == decision


def test_reseller_not_in_control_inherits_without_seeing_costs():
    decision = route(reseller_index(()), plan='retail')
    assert order(decision) == ['B', 'A']
    assert (decision.policy, decision.tenant, decision.inherited) == (
        'owner', None, True)
    public = decision.view('R')
    assert len(public.routes) == 2
    for hidden in public.routes:
        assert set(hidden) == {None}
    assert public.skipped == () and public.policy is None
    assert 'A' not in repr(public) and '0.0' not in repr(public)
    # The owner sees everything.
    assert decision.view(None) == decision


def test_reseller_public_view_of_no_route_names_nothing():
    decision = route(reseller_index(()), '4930', plan='retail')
    assert decision.routes == () and 'A' in repr(decision.skipped)
    public = decision.view('R')
    assert public.reason == "no route is available for this call"
    assert public.skipped == ()


def test_reseller_policy_cannot_use_its_parents_carriers():
    carriers = [carrier('A'), carrier('R1', tenant='R')]
    plans = [PlanRouting('w', 'EUR'),
        PlanRouting('r', 'EUR', parent='w', tenant='R')]
    with pytest.raises(RoutingError) as error:
        compile(carriers, {'A': rates(('44', '1'))}, [
                RoutingPolicy('x', 'r', strategy='priority',
                    carriers=('A', 'R1'))], plans)
    assert error.value.problems == (
        "policy x: carrier A is unknown or belongs to another tenant",)


# No route and bad input ----------------------------------------------------

def test_no_carrier_can_take_the_call_says_why():
    carriers = [carrier('A', state='disabled'),
        carrier('B', allowed_accounts=frozenset({'acme'})),
        carrier('C', max_calls=5)]
    index = compile(carriers)
    decision = route(index, '1212', account='x')
    assert decision.routes == ()
    assert decision.reason == (
        "no carrier can take 1212 (voice, plan P) at 2026-03-02T10:00:00Z: "
        "3 carriers without a rate")
    decision = route(index, '4420', account='x',
        usage={'C': CarrierUsage(5, 0)})
    assert decision.routes == ()
    # reasons in the order the carriers were met, cheapest first
    assert decision.reason == (
        "no carrier can take 4420 (voice, plan P) at 2026-03-02T10:00:00Z: "
        "1 carrier restricted to other customers; 1 carrier disabled; "
        "1 carrier at capacity")
    index = compile(carriers, policies=[RoutingPolicy('lcr', 'P',
                strategy='priority', carriers=())])
    assert route(index, '4420', account='acme').routes[0].carrier == 'B'


def test_compile_lists_every_problem():
    carriers = [
        carrier('A', state='broken'), carrier('A'),
        carrier('B', gateways=()),
        carrier('C', rewrite=('(1)', r'\2'), strip_digits=-1),
        ]
    decks = [CarrierDeck('A', rates(('4x', '1'))),
        CarrierDeck('Z', rates(('44', '1'))),
        CarrierDeck('B', rates(('44', '1')), service='telex')]
    policies = [RoutingPolicy('p', 'nope'),
        RoutingPolicy('q', 'P', strategy='cheapest', max_routes=0),
        RoutingPolicy('w', 'Q', strategy='weighted',
            rules=(RoutingRule(callee_prefix='+44', group='none'),))]
    plans = [PlanRouting('P', 'EUR'), PlanRouting('Q', 'EUR', parent='X')]
    with pytest.raises(RoutingError) as error:
        compile_routing(carriers, decks, plans, policies)
    assert error.value.problems == (
        "carrier A: state 'broken' is not one of active, disabled",
        "carrier A is defined twice",
        "carrier B: no gateway",
        "carrier C: strip_digits is negative",
        "carrier C: rewrite '(1)' → '\\\\2': invalid group reference 2 at "
        "position 1",
        "deck of carrier Z: unknown carrier",
        "deck of carrier B: unknown service 'telex'; expected voice, fax, "
        "sms",
        "plan Q: parent plan X is missing",
        "policy p: unknown plan nope",
        "policy q: strategy 'cheapest' is not one of least-cost, priority, "
        "weighted, quality",
        "policy q: max_routes must be at least 1",
        "policy w: the weighted strategy needs a weight above 0",
        "policy w, rule 1: callee_prefix '+44' is not a string of digits",
        "policy w, rule 1: unknown group none",
        "policy w, rule 1: the weighted strategy needs a weight above 0",
        )


def test_bad_deck_names_its_carrier():
    with pytest.raises(RoutingError) as error:
        compile(decks={'A': rates(('4x', '1')) + rates(
                    ('44', '1'), time_band='night')})
    assert error.value.problems == (
        "carrier A (voice deck), prefix 4x: prefix is not a string of digits",
        "carrier A (voice deck), prefix 44: unknown time band night",
        )
