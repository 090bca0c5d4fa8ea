"""Invariants of the routing engine, checked with hypothesis against a
brute-force oracle (each carrier's longest prefix, converted exactly)."""
import datetime as dt
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.telecom_lcr.engine import (
    Carrier, CarrierDeck, CarrierUsage, Gateway, PlanRouting, RoutingPolicy,
    compile_routing, route_call)
from trytond.modules.telecom_rating.engine import Rate

UTC = dt.timezone.utc
AT = dt.datetime(2026, 5, 4, 12, tzinfo=UTC)
# Prefixes over two digits make prefixes of one another common.
prefixes = st.text('12', min_size=1, max_size=4)
prices = st.integers(0, 10 ** 6).map(lambda n: D(n).scaleb(-6))
decks = st.dictionaries(prefixes, st.tuples(prices, st.sampled_from(
            [D(0), D('0.01')])), min_size=1, max_size=6)
setups = st.fixed_dictionaries({
    'decks': st.lists(decks, min_size=1, max_size=6),
    'currencies': st.lists(st.sampled_from(['EUR', 'USD', 'GBP']),
        min_size=6, max_size=6),
    'usd': st.sampled_from([D('0.9'), D('1.1'), D('0.923')]),
    'gbp': st.sampled_from([D('1.17'), D('1.2')]),
    'disabled': st.sets(st.integers(0, 5)),
    'busy': st.sets(st.integers(0, 5)),
    # Rates of the day the index pre-orders at (None: no pre-order).
    'reference': st.sampled_from([None, (D('0.9'), D('1.17')),
            (D('1.1'), D('1.2')), (D('0.5'), D('2'))]),
    })
REFERENCE_DAY = dt.date(2026, 1, 1)
callees = st.text('12', min_size=1, max_size=6)


def build(setup, **policy):
    carriers, carrier_decks = [], []
    for n, deck in enumerate(setup['decks']):
        carriers.append(Carrier(f'K{n}', f'K{n}', setup['currencies'][n],
                (Gateway(f'k{n}.net'),), max_calls=1,
                state='disabled' if n in setup['disabled'] else 'active'))
        carrier_decks.append(CarrierDeck(f'K{n}', [
                    Rate(p, price, connect_fee=connect)
                    for p, (price, connect) in deck.items()]))
    rates = {'USD': setup['usd'], 'GBP': setup['gbp']}
    reference = setup['reference']

    def convert(source, target, date):
        values = dict(rates, EUR=D(1))
        if date == REFERENCE_DAY:
            values.update(USD=reference[0], GBP=reference[1])
        return values[source] / values[target]
    index = compile_routing(carriers, carrier_decks,
        [PlanRouting('P', 'EUR')], [RoutingPolicy('p', 'P', **policy)],
        convert=convert, order_date=reference and REFERENCE_DAY)
    usage = {f'K{n}': CarrierUsage(1) for n in setup['busy']}
    return index, rates, usage


def oracle(setup, rates, callee):
    """Carriers that may take the call, cheapest first, with their exact
    cost per minute: the slow way."""
    found = []
    for n, deck in enumerate(setup['decks']):
        if n in setup['disabled'] or n in setup['busy']:
            continue
        matches = [p for p in deck if callee.startswith(p)]
        if not matches:
            continue
        price, connect = deck[max(matches, key=len)]
        factor = Fraction(rates.get(setup['currencies'][n], 1))
        found.append((Fraction(price) * factor, Fraction(connect) * factor,
                n))
    return [(f'K{n}', cost) for cost, _, n in sorted(found)]


@settings(max_examples=300, deadline=None)
@given(setups, callees)
def test_least_cost_matches_the_oracle(setup, callee):
    index, rates, usage = build(setup)
    decision = route_call(index, 'P', 'voice', '1', callee, AT, usage=usage)
    expected = oracle(setup, rates, callee)
    assert [(r.carrier, Fraction(r.cost_per_minute)) for r in
        decision.routes] == [(c, round(cost, 9)) for c, cost in expected]
    costs = [r.cost_per_minute for r in decision.routes]
    assert costs == sorted(costs)
    eligible = {c for c, _ in expected}
    skipped = {s.carrier for s in decision.skipped}
    assert skipped == {f'K{n}' for n in range(len(setup['decks']))} - eligible
    assert (decision.reason is None) == bool(decision.routes)


@settings(max_examples=150, deadline=None)
@given(setups, callees, st.integers(1, 4),
    st.sampled_from(['least-cost', 'priority', 'weighted', 'quality']),
    st.integers(0, 10 ** 6))
def test_any_strategy_respects_max_routes_and_is_deterministic(
        setup, callee, max_routes, strategy, call_id):
    policy = {'strategy': strategy, 'max_routes': max_routes}
    if strategy == 'weighted':
        policy['weights'] = {f'K{n}': n + 1 for n in range(6)
            if n < len(setup['decks'])}
    index, rates, usage = build(setup, **policy)
    decision = route_call(index, 'P', 'voice', '1', callee, AT, usage=usage,
        call_id=call_id)
    eligible = {c for c, _ in oracle(setup, rates, callee)}
    carriers = [r.carrier for r in decision.routes]
    assert len(carriers) == min(max_routes, len(eligible))
    assert set(carriers) <= eligible
    assert len(set(carriers)) == len(carriers)
    assert decision == route_call(index, 'P', 'voice', '1', callee, AT,
        usage=usage, call_id=call_id)
