"""The routing decision: which carriers may take a call, in what order.

``route_call`` finds the policy of the plan, the most specific rule for
the call, the window of carrier rates of the called number, then filters
the carriers (rule, state, restriction, capacity, cost guards, quality)
and orders them by the rule's strategy. Costs are compared exactly, as
integer fractions of nano-units in the plan's currency.
"""
import datetime as dt
import zlib
from decimal import Decimal
from fractions import Fraction
from math import lcm

from trytond.modules.telecom_rating.engine.money import NANO, round_fraction
from trytond.modules.telecom_rating.engine.tariff import epoch

from .model import Route, RoutingDecision, Skip

DAY = 86400
NANO_UNIT = Decimal('1E-9')
new_tuple = tuple.__new__
# Strategies that need the carriers cheapest first (quality breaks ties
# by cost).
ORDERED = frozenset({'least-cost', 'quality'})
WHY = {
    'no_rate': "without a rate",
    'disabled': "disabled",
    'restricted': "restricted to other customers",
    'over_capacity': "at capacity",
    'max_cost': "above the maximum cost",
    'loss': "dearer than the sell price",
    'margin': "short of the minimum margin",
    'quality': "below the quality thresholds",
    }


def route_call(index, plan_id, service, caller, callee, at, *, account=None,
        sell_price=None, usage=None, stats=None, max_routes=None,
        call_id=None):
    """Return the RoutingDecision for a call of ``plan_id``.

    ``at``: aware datetime (naive is UTC) or UTC epoch seconds.
    ``account``: the customer, for carriers restricted to accounts.
    ``sell_price``: the call's price per minute in the plan's currency
    (rating engine), for the loss and margin guards. ``usage``: carrier id
    → CarrierUsage. ``stats``: (carrier id, destination group) →
    QualityStats. ``max_routes`` overrides the policy's. ``call_id`` seeds
    the weighted choice (default: caller, callee and instant).
    """
    start = at if type(at) is int else epoch(at)
    resolution = index.resolutions.get((plan_id, service))
    if resolution is None:
        return RoutingDecision((), (), f"plan {plan_id} has no {service} "
            "routing policy, nor has any plan it is built on")
    policy = resolution.policy
    rule = policy.rule_for(caller, callee, index.group_of)
    currency = resolution.currency
    decision = (policy.id, policy.tenant, resolution.inherited,
        rule.strategy)
    day = start // DAY
    ceilings = ()
    if policy.needs_sell_price or policy.max_cost is not None:
        ceilings = _ceilings(index, policy, currency, sell_price, day)
        if type(ceilings) is str:
            return RoutingDecision((), (), ceilings, *decision)
        if len(ceilings) > 1:
            lowest = min(ceilings, key=lambda c: Fraction(c[0], c[1]))
        elif ceilings:
            lowest = ceilings[0]
    mask = rule.mask
    service_index = index.services.get(service)
    found = service_index.window(callee, start) if service_index else None
    if found is None:
        missing, items, unconverted = mask, (), ()
    else:
        window = found[1]
        missing = mask & ~window.mask
        items, unpriced, unconverted = _priced(index, window, currency,
            day, start, rule.strategy in ORDERED)
        missing |= unpriced & mask

    limit = max_routes or rule.max_routes
    lazy = rule.strategy == 'least-cost' and limit is not None
    quality = None
    if stats is not None and (
            policy.checks_quality or rule.strategy == 'quality'):
        quality = stats, index.group_of(callee)
    eligible, skipped = [], []
    lineage = resolution.lineage
    for rate, prefix, m, d in items:
        carrier = rate.plan
        if not carrier.bit & mask:
            continue
        reason = None
        if not carrier.open:
            reason = carrier.refusal(account, lineage, usage)
        if reason is None and ceilings:
            cost = rate.price * m
            if cost * lowest[1] > lowest[0] * d:
                # Above the lowest ceiling: find the strictest it breaks.
                for numerator, denominator, why in ceilings:
                    if cost * denominator > numerator * d:
                        reason = why
                        break
        if reason is None and quality is not None and policy.checks_quality:
            reason = _quality_refusal(policy, carrier, quality)
        if reason is not None:
            skipped.append(Skip(carrier.id, reason))
            continue
        eligible.append((carrier, rate, prefix, m, d))
        if lazy and len(eligible) == limit:
            break
    if missing:
        carriers = index.carriers
        for carrier in carriers.values():
            if carrier.bit & missing:
                skipped.append(Skip(carrier.id, 'no_rate'))

    strategy = rule.strategy
    if strategy == 'priority':
        eligible.sort(key=lambda e: rule.rank[e[0]])
    elif strategy == 'weighted':
        eligible = _weighted(eligible, rule, call_id, caller, callee, start)
    elif strategy == 'quality' and quality is not None:
        eligible = _by_quality(eligible, policy, quality)
    if limit is not None:
        del eligible[limit:]
    routes = []
    for carrier, rate, prefix, m, d in eligible:
        if d == 1:
            cost = Decimal(rate.price * m) * NANO_UNIT
        else:
            cost = round_fraction(rate.price * m, d * NANO, 9, 'half-up')
        number, dialled = carrier.dial(callee)
        # tuple.__new__ skips the named tuple's Python-level __new__.
        routes.append(new_tuple(Route, (carrier.id, carrier.gateway, number,
                    dialled, cost, currency, prefix)))
    reason = None
    if not routes:
        reason = _no_route(callee, service, plan_id, start, skipped,
            unconverted, currency, mask)
    return new_tuple(RoutingDecision,
        (tuple(routes), tuple(skipped), reason, *decision))


def _priced(index, window, currency, day, start, ordered):
    """Return the offers of ``window`` at ``start``.

    Return (iterable of (CompiledRate, carrier prefix, multiplier,
    divisor), mask of carriers without a price now, currencies without a
    conversion rate). Cost per minute = price × multiplier / divisor
    nano-units. ``ordered``: cheapest first, ties to the lower connect
    fee, then to the carrier listed first. The window's own order is used
    whenever the day's conversion rates keep it (read lazily: least cost
    reads only as far as it needs); otherwise the offers are sorted.
    """
    currencies = window.currencies
    if currencies is None:
        return _priced_in_bands(index, window, currency, day, start)
    offers, prefixes = window.offers, window.prefixes
    if len(currencies) == 1:
        factor = index.factor(currencies[0], currency, day)
        if factor is None:
            return (), window.mask, currencies
        m, d = factor
        return ((r, p, m, d) for r, p in zip(offers, prefixes)), 0, ()
    factors, unpriced, unconverted = {}, 0, ()
    for source in currencies:
        factor = index.factor(source, currency, day)
        if factor is None:
            unconverted += (source,)
        else:
            factors[source] = factor
    checks = window.checks
    if not unconverted and checks and all(
            factors[a][0] * x * factors[b][1]
            < factors[b][0] * y * factors[a][1]
            for a, b, x, y in checks):
        return ((r, p, *factors[r.plan.currency])
            for r, p in zip(offers, prefixes)), 0, ()
    keyed = []
    common = lcm(*(f[1] for f in factors.values())) if factors else 1
    for rate, prefix in zip(offers, prefixes):
        factor = factors.get(rate.plan.currency)
        if factor is None:
            unpriced |= rate.plan.bit
            continue
        m, d = factor
        scale = m * (common // d)
        # Keys end with the carrier position: they never tie.
        keyed.append((rate.price * scale, rate.connect * scale,
                rate.plan.position, (rate, prefix, m, d)))
    if ordered:
        keyed.sort()
    return [k[3] for k in keyed], unpriced, unconverted


def _priced_in_bands(index, window, currency, day, start):
    "Price each offer at the band in force at ``start``, then sort."
    items, unpriced, unconverted = [], 0, set()
    for entry, prefix in zip(window.offers, window.prefixes):
        rates = entry.rates
        rate = rates[0]
        if entry.schedule is not None:
            pieces, gap = entry.schedule.lay(start, 1)
            if gap is not None:
                unpriced |= rate.plan.bit
                continue
            rate = rates[pieces[0][0]]
        carrier = rate.plan
        factor = index.factor(carrier.currency, currency, day)
        if factor is None:
            unpriced |= carrier.bit
            unconverted.add(carrier.currency)
            continue
        items.append((rate, prefix, *factor))
    common = lcm(*(d for _, _, _, d in items)) if items else 1
    items.sort(key=lambda i: (i[0].price * i[2] * (common // i[3]),
            i[0].connect * i[2] * (common // i[3]), i[0].plan.position))
    return items, unpriced, tuple(sorted(unconverted))


def _ceilings(index, policy, currency, sell_price, day):
    """Return ((numerator, denominator, reason), …): the cost per minute in
    nano-units above which a carrier is refused, strictest reason first;
    or a sentence saying why no carrier can be judged."""
    ceilings = []
    m, d = 1, 1
    if policy.currency != currency:
        factor = index.factor(policy.currency, currency, day)
        if factor is None:
            return (f"no conversion rate from {policy.currency} to "
                f"{currency} on {_date(day)} for the guards of policy "
                f"{policy.id}")
        m, d = factor
    if policy.max_cost is not None:
        ceilings.append((policy.max_cost * m, d, 'max_cost'))
    if policy.needs_sell_price:
        if sell_price is None:
            return (f"policy {policy.id} guards against loss or keeps a "
                "margin, and the call has no sell price")
        numerator, denominator = Decimal(sell_price).as_integer_ratio()
        sell = numerator * NANO
        if policy.loss_guard:
            ceilings.append((sell, denominator, 'loss'))
        floors = []
        if policy.min_margin is not None:
            floors.append((sell * d - policy.min_margin * m * denominator,
                    denominator * d))
        if policy.margin_factor is not None:
            factor = policy.margin_factor
            floors.append((sell * factor.numerator,
                    denominator * factor.denominator))
        if floors:
            # The lower floor is the stricter.
            low = min(floors, key=lambda f: Fraction(*f))
            ceilings.append((*low, 'margin'))
    return tuple(ceilings)


def _quality_refusal(policy, carrier, quality):
    stats, group = quality
    measured = stats.get((carrier.id, group))
    if measured is None or measured.samples < policy.min_samples:
        return None
    if ((policy.min_asr is not None and measured.asr < policy.min_asr)
            or (policy.min_acd is not None and measured.acd < policy.min_acd)
            or (policy.max_pdd is not None
                and measured.pdd > policy.max_pdd)):
        return 'quality'
    return None


def _by_quality(eligible, policy, quality):
    """Order by ASR, then ACD, both descending, then cost.

    A carrier without statistics, or measured on fewer than
    ``min_samples`` calls, is neutral: it counts as the mean of the
    measured carriers of the call.
    """
    stats, group = quality
    scores = []
    for item in eligible:
        measured = stats.get((item[0].id, group))
        if measured is not None and measured.samples >= policy.min_samples:
            scores.append((measured.asr, measured.acd))
        else:
            scores.append(None)
    known = [s for s in scores if s is not None]
    if not known:
        return eligible
    neutral = (sum(s[0] for s in known) / len(known),
        sum(s[1] for s in known) / len(known))
    order = sorted(range(len(eligible)), key=lambda i: (
            -(scores[i] or neutral)[0], -(scores[i] or neutral)[1], i))
    return [eligible[i] for i in order]


def _weighted(eligible, rule, call_id, caller, callee, start):
    """Pick the first route by weight from a hash of the call; the others
    follow by weight, heaviest first (listed order on ties); carriers
    without weight come last in cost order."""
    present = {item[0]: item for item in eligible}
    weighted = [(c, w) for c, w in rule.weights if c in present and w]
    if not weighted:
        return eligible
    key = call_id if call_id is not None else f"{caller}>{callee}@{start}"
    point = zlib.crc32(str(key).encode()) % sum(w for _, w in weighted)
    for first, (carrier, weight) in enumerate(weighted):
        if point < weight:
            break
        point -= weight
    rest = sorted(weighted[:first] + weighted[first + 1:],
        key=lambda cw: -cw[1])
    chosen = [weighted[first][0]] + [c for c, _ in rest]
    taken = set(chosen)
    return [present[c] for c in chosen] + [
        item for item in eligible if item[0] not in taken]


def _no_route(callee, service, plan_id, start, skipped, unconverted,
        currency, mask):
    when = dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%SZ')
    head = (f"no carrier can take {callee} ({service}, plan {plan_id}) "
        f"at {when}")
    if not mask:
        return head + ": the routing policy names no carrier for this call"
    counts = {}
    for skip in skipped:
        counts[skip.reason] = counts.get(skip.reason, 0) + 1
    parts = [f"{n} {'carrier' if n == 1 else 'carriers'} {WHY[r]}"
        for r, n in counts.items()]
    if unconverted:
        parts.append(f"no conversion rate from {', '.join(unconverted)} to "
            f"{currency} on {when[:10]}")
    return head + ": " + "; ".join(parts)


def _date(day):
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
