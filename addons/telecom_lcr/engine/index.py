"""Compilation of carriers, carrier decks, plans and routing policies.

Each carrier deck is compiled by the rating engine's ``compile_tariff`` (one
plan per carrier and service: same validation, time bands and per-prefix
rate resolution as customer decks). The decks of a service are then merged
into one prefix index: the entry of a prefix holds, for every validity
window, the rates each carrier applies to numbers whose longest prefix in
the merged index is that prefix, pre-sorted by price when the carriers
share a currency and no band is involved, so least cost is a lookup and a
filter.
"""
import datetime as dt
import gc
from fractions import Fraction
from math import lcm

from trytond.modules.telecom_rating.engine.model import RatePlan
from trytond.modules.telecom_rating.engine.money import ratio, to_nano
from trytond.modules.telecom_rating.engine.tariff import (
    ALWAYS, FOREVER, TariffError, compile_tariff, resolved)

from .carrier import CompiledCarrier, check_carrier, check_service
from .model import STRATEGIES


class RoutingError(TariffError):
    "Routing input that cannot be compiled; ``problems`` lists every reason."


class Window:
    """The carriers' rates for a prefix during [start, end) (epoch s).

    ``prefixes`` are the carrier prefixes the offers come from, ``mask``
    the bits of the carriers present. When every offer has one price at
    all times (no band), ``offers`` are the CompiledRates in force (their
    ``plan`` is the CompiledCarrier), sorted by cost per minute at the
    reference conversion rates, then connect fee, then carrier position,
    and ``currencies`` lists their currencies. ``checks`` tells when that
    order holds at a call's rates: None (one currency: always), a tuple of
    (A, B, x, y) meaning "holds if x in A costs less than y in B", or
    False (never checked: sort per call). Otherwise (bands) ``offers`` are
    the resolved PrefixRates, priced and sorted per call, and
    ``currencies`` is None.
    """
    __slots__ = (
        'start', 'end', 'offers', 'prefixes', 'mask', 'currencies', 'checks')

    def __init__(self, start, end, offers, reference, interned):
        self.currencies = self.checks = None
        if all(e.schedule is None for _, e in offers):
            offers = [(p, e.rates[0]) for p, e in offers]
            currencies = tuple(sorted({r.plan.currency for _, r in offers}))
            if len(currencies) > 1:
                self.checks = _order(offers, currencies, reference)
            else:
                offers.sort(key=_price_order)
            # Few distinct sets of currencies and checks exist: share them.
            self.currencies = interned.setdefault(currencies, currencies)
            if self.checks:
                self.checks = interned.setdefault(self.checks, self.checks)
        self.start, self.end = start, end
        self.prefixes = tuple(p for p, _ in offers)
        self.offers = tuple(o for _, o in offers)
        mask = 0
        for offer in self.offers:
            mask |= (offer.plan if self.currencies is not None
                else offer.rates[0].plan).bit
        self.mask = mask


def _price_order(offer):
    rate = offer[1]
    return rate.price, rate.connect, rate.plan.position


def _order(offers, currencies, scales):
    """Sort ``offers`` (of several currencies) in place by cost at the
    reference rates (``scales``: currency → integer factor) and return the
    checks that keep that order valid: for each two neighbours of
    different currencies, the first must stay strictly cheaper. Return
    False without reference rates."""
    if any(c not in scales for c in currencies):
        offers.sort(key=lambda o: (o[1].plan.currency, *_price_order(o)))
        return False
    keyed = []
    for prefix, rate in offers:
        carrier = rate.plan
        scale = scales[carrier.currency]
        keyed.append((rate.price * scale, rate.connect * scale,
                carrier.position, prefix, rate))
    keyed.sort()
    offers[:] = [(k[3], k[4]) for k in keyed]
    tightest = {}
    for (_, x), (_, y) in zip(offers, offers[1:]):
        a, b = x.plan.currency, y.plan.currency
        if a == b:
            continue
        # x.price·fa < y.price·fb ⇔ fb/fa > x.price/y.price: keep the
        # largest ratio per pair of currencies.
        if y.price == 0:
            return False
        bound = tightest.get((a, b))
        if bound is None or x.price * bound[1] > bound[0] * y.price:
            tightest[a, b] = (x.price, y.price)
    return tuple((a, b, x, y) for (a, b), (x, y) in sorted(
            tightest.items()))


class ServiceIndex:
    "The merged prefix index of the carrier decks of one service."
    __slots__ = ('entries', 'lengths')

    def __init__(self, entries):
        # A prefix maps to its Window, or to a tuple of Windows in time
        # order when some rate of the prefix is dated.
        self.entries = entries
        self.lengths = tuple(sorted({len(p) for p in entries}, reverse=True))

    def window(self, number, start):
        "Return (merged prefix, Window in force at ``start``) or None."
        entries = self.entries
        size = len(number)
        for length in self.lengths:
            if length > size:
                continue
            entry = entries.get(number[:length])
            if entry is None:
                continue
            if type(entry) is tuple:
                for window in entry:
                    if window.start <= start < window.end:
                        return number[:length], window
            return number[:length], entry
        return None


class CompiledRule:
    """A rule or a policy's defaults, with carrier sets as bit masks.

    ``rank``: carrier → place in the priority list; ``weights``:
    (carrier, weight) in listed order.
    """
    __slots__ = (
        'strategy', 'mask', 'rank', 'weights', 'max_routes', 'caller_prefix',
        'group', 'order')

    def __init__(self, strategy, carriers, weights, max_routes,
            caller_prefix='', group=None, order=0):
        self.strategy = strategy
        self.rank = {c: i for i, c in enumerate(carriers)}
        self.weights = tuple((c, weights[c]) for c in carriers
            if c in weights)
        mask = 0
        for carrier in carriers:
            mask |= carrier.bit
        self.mask = mask
        self.max_routes = max_routes
        self.caller_prefix = caller_prefix
        self.group = group
        self.order = order


class CompiledPolicy:
    "A policy with its rules indexed by called-number prefix."
    __slots__ = (
        'id', 'plan', 'tenant', 'currency', 'rules', 'rule_lengths',
        'default', 'uses_groups', 'loss_guard', 'max_cost', 'min_margin',
        'margin_factor', 'min_asr', 'min_acd', 'max_pdd', 'min_samples',
        'needs_sell_price', 'checks_quality')

    def rule_for(self, caller, callee, group_of):
        "Return the most specific rule applying to the call."
        rules = self.rules
        group = None
        size = len(callee)
        for length in self.rule_lengths:
            if length > size:
                continue
            found = rules.get(callee[:length])
            if found is None:
                continue
            for rule in found:
                if rule.caller_prefix and not caller.startswith(
                        rule.caller_prefix):
                    continue
                if rule.group is not None:
                    if group is None:
                        group = group_of(callee) or ''
                    if rule.group != group:
                        continue
                return rule
        return self.default


class Resolution:
    "The policy a plan uses for a service, found once at compile."
    __slots__ = ('policy', 'currency', 'lineage', 'inherited')

    def __init__(self, policy, currency, lineage, inherited):
        self.policy = policy
        self.currency = currency
        self.lineage = lineage
        self.inherited = inherited


class RoutingIndex:
    """Everything ``route_call`` reads, immutable once compiled.

    The only state is a memo of conversion factors per (source, target,
    UTC day), filled from ``convert``; ``with_convert`` returns an index
    sharing the compiled decks with a new conversion function and memo
    (refresh it when currency rates change, without recompiling decks).
    """

    def __init__(self, carriers, services, resolutions, groups, convert):
        self.carriers = carriers
        self.services = services
        self.resolutions = resolutions
        self.groups = groups
        self.convert = convert
        self._factors = {}

    def with_convert(self, convert):
        return RoutingIndex(self.carriers, self.services, self.resolutions,
            self.groups, convert)

    def group_of(self, number):
        "Return the destination group of ``number`` or None."
        return self.groups.group_of(number)

    def factor(self, source, target, day):
        """Return (multiplier, divisor) turning ``source`` into ``target``
        amounts on UTC ``day`` (epoch days), or None without a rate."""
        if source == target:
            return 1, 1
        key = (source, target, day)
        factor = self._factors.get(key, False)
        if factor is False:
            factor = None
            if self.convert is not None:
                date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
                rate = self.convert(source, target, date)
                if rate is not None:
                    factor = ratio(rate)
            self._factors[key] = factor
        return factor


def compile_routing(carriers, decks, plans, policies, *, time_bands=(),
        groups=None, routing_tenants=frozenset(), convert=None,
        order_date=None):
    """Compile the routing input into a RoutingIndex.

    ``carriers`` (Carrier), ``decks`` (CarrierDeck), ``plans``
    (PlanRouting), ``policies`` (RoutingPolicy); ``time_bands`` and
    ``groups`` as for ``compile_tariff``. A policy of a reseller's plan
    applies only when the reseller is in ``routing_tenants`` (allowed to
    control its routing); otherwise the plan uses its parent's.
    ``convert(source, target, date) -> Decimal | None`` as for rating.
    ``order_date`` (usually today): carriers of several currencies are
    pre-ordered at that date's conversion rates; a call on a day whose
    rates change that order is sorted per call, so results never depend
    on it, only speed does. Raise RoutingError listing every problem
    found.
    """
    # Compiling creates millions of small acyclic objects; the collector
    # walking them again and again would take a third of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _compile(carriers, decks, plans, policies, time_bands,
            groups, frozenset(routing_tenants), convert, order_date)
    finally:
        if collecting:
            gc.enable()


def _compile(carriers, decks, plans, policies, time_bands, groups,
        routing_tenants, convert, order_date):
    problems = []
    compiled = {}
    for carrier in carriers:
        if carrier.id in compiled:
            problems.append(f"carrier {carrier.id} is defined twice")
            continue
        check_carrier(carrier, problems)
        compiled[carrier.id] = CompiledCarrier(carrier, len(compiled))
    try:
        base = compile_tariff((), time_bands, groups)
    except TariffError as exception:
        raise RoutingError(problems + list(exception.problems))
    by_service = {}
    for deck in decks:
        carrier = compiled.get(deck.carrier)
        where = f"deck of carrier {deck.carrier}"
        check_service(deck.service, where, problems)
        if carrier is None:
            problems.append(f"{where}: unknown carrier")
            continue
        service_decks = by_service.setdefault(deck.service, {})
        if carrier in service_decks:
            problems.append(f"carrier {carrier.id} has two {deck.service} "
                "decks")
        service_decks[carrier] = deck
    reference = _reference(compiled.values(), convert, order_date)
    plans_by_id = _check_plans(plans, problems)
    by_plan = _check_policies(
        policies, plans_by_id, compiled, base, problems)
    if problems:
        raise RoutingError(problems)
    services = {}
    for service, service_decks in by_service.items():
        tariff = _compile_decks(service, service_decks, time_bands)
        services[service] = ServiceIndex(_merge(tariff, reference))
    resolutions = _resolve(plans_by_id, by_plan, routing_tenants)
    return RoutingIndex(compiled, services, resolutions, base, convert)


def _reference(carriers, convert, order_date):
    """Return currency → integer factor proportional to its value at
    ``order_date``, for the carriers' currencies that convert into the
    first one (a common denominator keeps the factors whole)."""
    currencies = sorted({c.currency for c in carriers})
    if not currencies or convert is None or order_date is None:
        return {}
    base = currencies[0]
    factors = {base: (1, 1)}
    for currency in currencies[1:]:
        rate = convert(currency, base, order_date)
        if rate is not None and rate > 0:
            factors[currency] = ratio(rate)
    common = lcm(*(d for _, d in factors.values()))
    return {c: m * (common // d) for c, (m, d) in factors.items()}


def _compile_decks(service, service_decks, time_bands):
    # The CompiledCarrier itself is the plan id: every compiled rate then
    # points at its carrier and a decision needs no lookup.
    try:
        return compile_tariff([
                RatePlan(carrier, carrier.currency, deck.rates,
                    service=service)
                for carrier, deck in service_decks.items()], time_bands)
    except TariffError as exception:
        problems = []
        for problem in exception.problems:
            for carrier in service_decks:
                head = f"plan {carrier}"
                if problem.startswith(head + ',') or problem.startswith(
                        head + ':'):
                    problem = (f"carrier {carrier.id} ({service} deck)"
                        + problem[len(head):])
                    break
            problems.append(problem)
        raise RoutingError(problems)


def _merge(tariff, reference):
    """Return merged prefix → Window or tuple of Windows.

    Walking the prefixes in sorted order visits a prefix after all its
    ancestors, so a stack gives each prefix the offers it inherits: per
    carrier the chain of its (prefix, PrefixRates) from the longest; a
    chain continues past a prefix only while its rates are dated (a rate
    loaded for later does not capture calls before its date).
    """
    indexes = [(p.id.position, p.index) for p in tariff.plans.values()]
    size = 1 + max((position for position, _ in indexes), default=0)
    keys = sorted(set().union(*(index for _, index in indexes)))
    entries = {}
    stack = []
    memo = {}  # resolved rates by dated rates valid, interned currencies
    for key in keys:
        while stack and not key.startswith(stack[-1][0]):
            stack.pop()
        chains = list(stack[-1][1]) if stack else [None] * size
        for position, index in indexes:
            entry = index.get(key)
            if entry is None:
                continue
            if entry.dated and chains[position] is not None:
                chains[position] = ((key, entry),) + chains[position]
            else:
                chains[position] = ((key, entry),)
        stack.append((key, chains))
        entries[key] = _windows(tariff, chains, memo, reference)
    return entries


def _windows(tariff, chains, memo, reference):
    chains = [c for c in chains if c is not None]
    if all(len(c) == 1 and not c[0][1].dated for c in chains):
        return Window(
            ALWAYS, FOREVER, [c[0] for c in chains], reference, memo)
    edges = {ALWAYS, FOREVER}
    for chain in chains:
        for _, entry in chain:
            if entry.dated:
                for rate in entry.rates:
                    edges.add(rate.valid_from)
                    edges.add(rate.valid_to)
    edges = sorted(edges)
    windows = []
    for start, end in zip(edges, edges[1:]):
        offers = []
        for chain in chains:
            for prefix, entry in chain:
                if not entry.dated:
                    offers.append((prefix, entry))
                    break
                valid = tuple(r for r in entry.rates
                    if r.valid_from <= start < r.valid_to)
                if valid:
                    rates = memo.get(valid)
                    if rates is None:
                        rates = memo[valid] = resolved(tariff, valid)
                    offers.append((prefix, rates))
                    break
        windows.append(Window(start, end, offers, reference, memo))
    return tuple(windows)


def _check_plans(plans, problems):
    by_id = {}
    for plan in plans:
        if plan.id in by_id:
            problems.append(f"plan {plan.id} is defined twice")
        by_id[plan.id] = plan
    for plan in by_id.values():
        seen = {plan.id}
        parent = plan.parent
        while parent is not None:
            if parent not in by_id:
                problems.append(
                    f"plan {plan.id}: parent plan {parent} is missing")
                break
            if parent in seen:
                problems.append(f"plan {plan.id} inherits from itself")
                break
            seen.add(parent)
            parent = by_id[parent].parent
    return by_id


def _check_policies(policies, plans, carriers, base, problems):
    "Return (plan, service) → CompiledPolicy."
    known_groups = set(base.groups.values())
    by_plan = {}
    for policy in policies:
        where = f"policy {policy.id}"
        check_service(policy.service, where, problems)
        plan = plans.get(policy.plan)
        if plan is None:
            problems.append(f"{where}: unknown plan {policy.plan}")
            continue
        key = (policy.plan, policy.service)
        if key in by_plan:
            problems.append(f"{where}: plan {policy.plan} has another "
                f"{policy.service} policy")
        own = [c for c in carriers.values() if c.tenant == plan.tenant]
        compiled = CompiledPolicy()
        compiled.id = policy.id
        compiled.plan = plan.id
        compiled.tenant = plan.tenant
        compiled.currency = plan.currency
        compiled.default = _rule(where, policy.strategy, policy.carriers,
            policy.weights, policy.max_routes, own, carriers, problems)
        rules = {}
        for order, rule in enumerate(policy.rules):
            rule_where = f"{where}, rule {order + 1}"
            for name in ('callee_prefix', 'caller_prefix'):
                value = getattr(rule, name)
                if value and not value.isdigit():
                    problems.append(f"{rule_where}: {name} {value!r} is not "
                        "a string of digits")
            if rule.group is not None and rule.group not in known_groups:
                problems.append(f"{rule_where}: unknown group {rule.group}")
            default = compiled.default
            compiled_rule = _rule(rule_where,
                rule.strategy or default.strategy, rule.carriers,
                rule.weights or policy.weights,
                rule.max_routes or default.max_routes, own, carriers,
                problems, caller_prefix=rule.caller_prefix,
                group=rule.group, order=order, fallback=default)
            rules.setdefault(rule.callee_prefix, []).append(compiled_rule)
        for found in rules.values():
            found.sort(key=lambda r: (
                    r.group is None, -len(r.caller_prefix), r.order))
        compiled.rules = {p: tuple(r) for p, r in rules.items()}
        compiled.rule_lengths = tuple(
            sorted({len(p) for p in rules}, reverse=True))
        compiled.uses_groups = any(r.group for r in policy.rules)
        _guards(where, policy, compiled, problems)
        by_plan[key] = compiled
    return by_plan


def _rule(where, strategy, listed, weights, max_routes, own, carriers,
        problems, fallback=None, **values):
    if strategy not in STRATEGIES:
        problems.append(f"{where}: strategy {strategy!r} is not one of "
            + ', '.join(STRATEGIES))
    if max_routes is not None and max_routes < 1:
        problems.append(f"{where}: max_routes must be at least 1")
    if strategy == 'weighted' and not listed:
        listed = tuple(weights)
    chosen = []
    for carrier_id in listed:
        carrier = carriers.get(carrier_id)
        if carrier is None or carrier not in own:
            problems.append(f"{where}: carrier {carrier_id} is unknown or "
                "belongs to another tenant")
        else:
            chosen.append(carrier)
    if not listed:
        # A rule without carriers uses its policy's.
        chosen = list(fallback.rank) if fallback is not None else own
    compiled_weights = {}
    for carrier_id, weight in weights.items():
        carrier = carriers.get(carrier_id)
        if not isinstance(weight, int) or weight < 0:
            problems.append(f"{where}: weight of carrier {carrier_id} must "
                "be a whole number at least 0")
        elif carrier is not None:
            compiled_weights[carrier] = weight
    if strategy == 'weighted' and not any(compiled_weights.values()):
        problems.append(f"{where}: the weighted strategy needs a weight "
            "above 0")
    return CompiledRule(strategy, chosen, compiled_weights, max_routes,
        **values)


def _guards(where, policy, compiled, problems):
    amounts = {}
    for name in ('max_cost', 'min_margin', 'min_margin_percent'):
        value = getattr(policy, name)
        if value is None:
            amounts[name] = None
            continue
        try:
            amounts[name] = to_nano(value)
            if amounts[name] < 0:
                raise ValueError("is negative")
        except ValueError as exception:
            problems.append(f"{where}: {name} {exception}")
            amounts[name] = None
    compiled.loss_guard = policy.loss_guard
    compiled.max_cost = amounts['max_cost']
    compiled.min_margin = amounts['min_margin']
    compiled.margin_factor = None
    if policy.min_margin_percent is not None:
        compiled.margin_factor = 1 - Fraction(policy.min_margin_percent) / 100
    compiled.needs_sell_price = bool(policy.loss_guard
        or compiled.min_margin is not None
        or compiled.margin_factor is not None)
    compiled.min_asr = policy.min_asr
    compiled.min_acd = policy.min_acd
    compiled.max_pdd = policy.max_pdd
    compiled.min_samples = policy.min_samples
    compiled.checks_quality = any(getattr(compiled, n) is not None
        for n in ('min_asr', 'min_acd', 'max_pdd'))


def _resolve(plans, by_plan, routing_tenants):
    """Return (plan, service) → Resolution for every plan and service.

    A reseller's own policy counts only while the reseller may control its
    routing; otherwise the nearest ancestor's policy applies.
    """
    resolutions = {}
    services = {service for _, service in by_plan}
    for plan in plans.values():
        lineage = [plan.id]
        parent = plan.parent
        while parent is not None:
            lineage.append(parent)
            parent = plans[parent].parent
        lineage = frozenset(lineage)
        for service in services:
            current = plan
            while current is not None:
                policy = by_plan.get((current.id, service))
                if policy is not None and (policy.tenant is None
                        or policy.tenant in routing_tenants):
                    resolutions[plan.id, service] = Resolution(
                        policy, plan.currency, lineage,
                        current.id != plan.id)
                    break
                current = plans.get(current.parent)
    return resolutions
