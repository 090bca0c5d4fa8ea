"""The fast path of ``rate_batch``: most calls in a few integer operations.

``rating._Rating`` prices a call level by level, as the pricing rules read.
In a batch, almost every call is simple: the rates in force on its chain do
not change during the call, it lies in one band segment (of each level's
schedule), and no bundle applies. For such a call the price at level i is
an affine function of the charged seconds c,

    cost_i × 10^decimals = (M_i × (60 × connect + price × c) + F_i × c
                            + add_i) // den_i

where connect and price are those of the rate in force at the call's start
in the plan that defines the prefix (nano-units), and M_i, F_i, den_i fold
the conversions and markups from that plan down to level i and the plan's
rounding method (``add_i``). They are the fractions ``_Rating.inherit``
builds, so the rounded costs are the same (a rounding depends only on the
exact value of the fraction).

Memos, filled on first use and never changing a result:

- per chain of plans (``_ChainIndex``, on the tariff): a dict of every
  prefix of the chain's plans and of the destination groups. The longest
  of them that starts the number (``U``) determines the prefix each plan
  matches and the number's group, so it keys a ``route`` — or, when dated
  rates decide, a few routes (``_Dated``) each holding over a validity
  window;
- per route: the increments and band schedule of the plans that define
  the levels' rates (shared by all levels, or per group of levels priced
  alike: ``_Multiple``), and per rate index the (prefix, destination,
  connect, price) each level reports;
- per ``_Shape`` (which levels inherit from which defining plan, through
  which markups and currencies): the factors of each level, per set of
  conversion rates;
- per band schedule and UTC day: the band segments (``BandSchedule.days``);
- per decimals: the ``Decimal`` of each rounded quotient.

Everything else (a call across a band boundary, bundles being spent,
gaps, missing conversions, unknown plans, negative factors) goes through
``_Rating``; calls that may spend a bundle are rated after the others, in
start order, so bundles are spent as the rules say.
"""
import decimal
import gc
from bisect import bisect_right
from dataclasses import fields, make_dataclass
from decimal import Decimal
from itertools import repeat
from math import gcd

from .model import BatchResult, Call, LevelCharge, RatedCall
from .money import NANO
from .tariff import ALWAYS, FOREVER, NO_MARKUP, epoch

PER_SECOND = 60 * NANO
DAY = 86400
NOT_BUILT = False
SLOW = True  # a route whose calls go through _Rating
# Rebuild a chain's routes past this many (bounds the memory they take).
ROUTE_LIMIT = 1_000_000
# Validity windows kept per prefix of a chain (a deck changes a few times).
MAX_WINDOWS = 8
MAX_SHAPES = 1 << 16
# Decimal(q).scaleb(-decimals) per decimals; exact when q has at most
# MIN_PRECISION digits, so the memo is used only under such a context.
MIN_PRECISION = 28
COST_LIMIT = 10 ** MIN_PRECISION
COST_MEMO = 1 << 20
_COSTS = {}


def _mutable_twin(cls):
    """Return a mutable slots class with the layout of frozen ``cls``.

    Building a twin and setting its ``__class__`` to ``cls`` makes a genuine
    ``cls`` instance (frozen, same equality and hash) 3-4 times faster than
    the frozen ``__init__``, which goes through ``object.__setattr__``.
    """
    twin = make_dataclass(
        '_Mutable' + cls.__name__, [f.name for f in fields(cls)], slots=True,
        eq=False, repr=False)
    assert twin.__slots__ == cls.__slots__
    probe = twin(*repeat(None, len(twin.__slots__)))
    probe.__class__ = cls  # raises TypeError if the layouts differ
    return twin


_LevelCharge = _mutable_twin(LevelCharge)
_RatedCall = _mutable_twin(RatedCall)
_Call = _mutable_twin(Call)


def new_call(call_id, chain, caller, callee, start, duration, direction,
        service, answered):
    """Return ``Call(call_id, …, answered)``, every field given, built 4
    times faster: for callers that build one Call per CDR of a batch."""
    call = _Call(call_id, chain, caller, callee, start, duration, direction,
        service, answered)
    call.__class__ = Call
    return call


class _Costs(dict):
    "Rounded quotient → its Decimal cost, for one number of decimals."
    __slots__ = ('exponent',)

    def __init__(self, decimals):
        super().__init__()
        self.exponent = -decimals

    def make(self, quotient):
        cost = Decimal(quotient).scaleb(self.exponent)
        if quotient < COST_LIMIT:
            if len(self) >= COST_MEMO:
                self.clear()
            self[quotient] = cost
        return cost


def _costs(decimals):
    costs = _COSTS.get(decimals)
    if costs is None:
        costs = _COSTS[decimals] = _Costs(decimals)
    return costs


class _Shape:
    """How each level of a route derives from its defining plan's rate.

    ``levels``: per level (plan id, currency, decimals, rounding method,
    steps) with steps (source currency, target currency, markup or None)
    from the defining plan down to the level. ``pairs``: the currency pairs
    the steps convert. ``factors(conversions)`` returns per level
    (plan id, currency, multiplier, fixed, add, den, costs) or None if a
    factor is negative (the fast rounding assumes a non-negative amount).
    """
    __slots__ = ('id', 'levels', 'pairs', 'memo')

    def __init__(self, id, levels):
        self.id = id
        self.levels = levels
        self.pairs = tuple(sorted({(source, target)
                    for *_, steps in levels for source, target, _ in steps
                    if source != target}))
        self.memo = {}

    def factors(self, conversions):
        found = self.memo.get(conversions, NOT_BUILT)
        if found is not NOT_BUILT:
            return found
        rates = dict(zip(self.pairs, conversions))
        factors = []
        for plan, currency, decimals, rounding, steps in self.levels:
            multiplier, fixed, scale = 1, 0, 1
            for source, target, markup in steps:
                # As _Rating.inherit: convert, then mark up.
                times, divisor = (rates[source, target] if source != target
                    else (1, 1))
                extra = 0
                if markup is not None:
                    percent, percent_divisor, extra = markup
                    times *= percent
                    divisor *= percent_divisor
                if times == divisor and not extra:
                    continue  # the value is unchanged
                scale *= divisor
                fixed = fixed * times + extra * scale
                multiplier *= times
            if multiplier < 0 or fixed < 0:
                factors = None
                break
            # cost × 10^decimals = round(n / den) with n = multiplier ×
            # (60 × connect + price × c) + fixed × c; each rounding is a
            # floor: (n + add) // den for up, (2n + den) // 2den for
            # half-up, n // den for down.
            ten = 10 ** decimals
            multiplier, fixed, den = (
                multiplier * ten, fixed * ten, PER_SECOND * scale)
            if rounding == 'half-up':
                multiplier, fixed, add, den = (
                    2 * multiplier, 2 * fixed, den, 2 * den)
            else:
                add = den - 1 if rounding == 'up' else 0
            # Smaller integers, same quotients: faster arithmetic.
            common = gcd(multiplier, fixed, add, den)
            factors.append((plan, currency, multiplier // common,
                    fixed // common, add // common, den // common,
                    _costs(decimals)))
        else:
            factors = tuple(factors)
        self.memo[conversions] = factors
        return factors


class _ChainIndex:
    """The routes of one chain of plans (tuple of plan ids).

    ``routes`` maps every prefix of the chain's plans and of the groups to
    its route (NOT_BUILT until a call needs it, SLOW, or a tuple).
    """
    __slots__ = ('tariff', 'plans', 'routes', 'lengths', 'direction',
        'service', 'built', 'skeletons')

    def __init__(self, tariff, plans):
        self.tariff = tariff
        self.plans = plans
        self.direction = plans[0].direction
        self.service = plans[0].service
        self.lengths = tuple(sorted({len(p) for p in tariff.groups}.union(
                    *(p.lengths for p in plans)), reverse=True))
        self.reset()

    def reset(self):
        # A plan's index holds its ancestors' prefixes: only the chain's
        # plans that are no ancestor of another one add keys.
        plans = self.plans
        ancestors = set()
        for plan in plans:
            parent = plan.parent
            while parent is not None:
                ancestors.add(parent)
                parent = self.tariff.plans[parent].parent
        routes = {}
        for plan in {p.id: p for p in plans}.values():
            if plan.id not in ancestors:
                routes.update(zip(plan.index, repeat(NOT_BUILT)))
        routes.update(zip(self.tariff.groups, repeat(NOT_BUILT)))
        self.routes = routes
        self.built = 0
        self.skeletons = {}  # (defining plans, group) → skeleton

    def route(self, prefix, start):
        """Build, store and return the route of ``prefix`` at ``start``.

        A route that holds at all times is stored as is; one that depends
        on dated rates joins the prefix's ``_Dated`` windows.
        """
        if self.built >= ROUTE_LIMIT:
            self.reset()
        self.built += 1
        low, high, route = self._route(prefix, start)
        if low == ALWAYS and high == FOREVER:
            self.routes[prefix] = route
            return route
        windows = self.routes[prefix]
        if type(windows) is not _Dated or len(windows) >= MAX_WINDOWS:
            windows = self.routes[prefix] = _Dated()
        windows.append((low, high, route))
        return route

    def _route(self, prefix, start):
        """Return (low, high, route or SLOW) of ``prefix`` at ``start``:
        the route holds from ``low`` to ``high`` (the rates in force do
        not change in between).

        An undated entry a plan takes from an ancestor is that ancestor's
        entry object (indexes are copied from the parent's), so the plan
        that defines a level's price is ``entry.rates[0].plan`` and the
        steps from it to the level depend only on the plans and the group:
        they are memoised as a skeleton. A dated entry is replaced by the
        undated one of its rates in force (``Tariff.in_force``), as
        ``rating.find_rates`` does per call.
        """
        size = len(prefix)
        low, high = ALWAYS, FOREVER
        entries, prefixes, defining = [], [], []
        for plan in self.plans:
            index = plan.index
            entry = index.get(prefix)
            if entry is not None and not entry.dated and entry.uniform:
                # The common case: the plan has (or inherits) the prefix.
                entries.append(entry)
                prefixes.append(prefix)
                defining.append(entry.rates[0].plan)
                continue
            for length in plan.lengths:
                if length > size:
                    continue
                entry = index.get(prefix[:length])
                if entry is None:
                    continue
                if not entry.dated:
                    break
                valid = []
                for rate in entry.rates:
                    # The rates in force change only at these instants.
                    for edge in (rate.valid_from, rate.valid_to):
                        if edge <= start:
                            if edge > low:
                                low = edge
                        elif edge < high:
                            high = edge
                    if rate.valid_from <= start < rate.valid_to:
                        valid.append(rate)
                if valid:
                    tier = valid[0].plan
                    entry = self.tariff.in_force(prefix[:length], tuple(
                            r for r in valid if r.plan == tier))
                    break
            else:
                return low, high, SLOW
            if not entry.uniform:
                return low, high, SLOW
            entries.append(entry)
            prefixes.append(prefix[:length])
            defining.append(entry.rates[0].plan)
        group = self.tariff.group_of_prefix(prefix)
        key = (*defining, group)
        skeleton = self.skeletons.get(key)
        if skeleton is None:
            skeleton = self.skeletons[key] = self._skeleton(defining, group)
        if skeleton is SLOW:
            return low, high, SLOW
        shape, factors = skeleton
        first = entries[0]
        part = first.part or _part(self.tariff, first)
        by_rate = _reported(first, prefixes[0])
        if any(entry is not first for entry in entries):
            if any((entry.part or _part(self.tariff, entry)) is not part
                    for entry in entries):
                return low, high, _multiple(
                    self.tariff, entries, prefixes, group, factors, shape)
            levels = [_reported(e, p) for e, p in zip(entries, prefixes)]
            by_rate = tuple((*at[0][:5], tuple(r[1:5] for r in at))
                for at in zip(*levels))
        return low, high, (*part[:5], group, factors, shape, by_rate)

    def _skeleton(self, defining, group):
        """Return (shape, factors or None if they convert) or SLOW.

        ``defining``: per level, the plan whose rate prices it.
        """
        plans = self.tariff.plans
        shape = []
        for level, source in zip(self.plans, defining):
            steps = []
            plan = level
            while True:
                if (plan.direction != self.direction
                        or plan.service != self.service):
                    return SLOW
                if plan.id == source:
                    break
                parent = plans[plan.parent]
                markup = None
                if plan.markups:
                    markup = plan.markup(group)
                    if markup == NO_MARKUP:
                        markup = None
                steps.append((parent.currency, plan.currency, markup))
                plan = parent
            shape.append((level.id, level.currency, level.decimals,
                    level.rounding, tuple(reversed(steps))))
        shape = tuple(shape)
        found = self.tariff.shapes.get(shape)
        if found is None:
            found = self.tariff.shapes[shape] = _Shape(
                len(self.tariff.shapes), shape)
        if found.id >= MAX_SHAPES:
            return SLOW  # its id would not fit the conversions' memo key
        if found.pairs:
            return found, None
        factors = found.factors(())
        return SLOW if factors is None else (found, factors)


def _reported(entry, prefix):
    """Per rate index of ``entry`` (at ``prefix``) what a level reports.

    (band, prefix, destination, 60 × connect fee, price, None): the
    ``by_rate`` of a route whose levels all take their rate from ``entry``.
    Memoised on the entry (an entry sits at one prefix) for every chain.
    """
    reported = entry.reported
    if reported is None:
        schedule = entry.schedule
        reported = entry.reported = tuple(
            (r.band if schedule else None, prefix, r.destination,
                r.connect * 60, r.price, None)
            for r in (entry.rates if schedule else entry.rates[:1]))
    return reported


def _part(tariff, entry):
    """Return (days, schedule, minimum, first, next, band names) of
    ``entry``, one tuple for entries priced alike (``Tariff.parts``):
    levels whose entries share it share the charged seconds and bands.
    Memoised on the entry."""
    rate = entry.rates[0]
    schedule = entry.schedule
    key = (schedule, rate.minimum, rate.first, rate.next,
        tuple(r.band for r in entry.rates) if schedule else None)
    part = tariff.parts.get(key)
    if part is None:
        part = tariff.parts[key] = (schedule.days if schedule else None,
            *key)
    entry.part = part
    return part


class _Dated(list):
    """The routes of a prefix whose rates depend on the date: (low, high,
    route or SLOW), each holding from ``low`` to ``high``."""
    __slots__ = ()


class _Multiple:
    """A route whose levels do not share increments or band schedule (a
    retail deck billed 60/60 over a wholesale one billed 30/6, a tenant's
    own bands): its levels are priced by ``parts``, one per (schedule,
    minimum, increments, band names), each (days, schedule, minimum,
    first, next, members) with members (level, per rate index (band,
    prefix, destination, 60 × connect, price, None))."""
    __slots__ = ('parts', 'group', 'factors', 'shape', 'free')

    def __init__(self, parts, group, factors, shape, free):
        self.parts = parts
        self.group = group
        self.factors = factors
        self.shape = shape
        # Per level (prefix, destination) of a call that costs nothing.
        self.free = free


def _multiple(tariff, entries, prefixes, group, factors, shape):
    "Return the _Multiple route of ``entries`` matched at ``prefixes``."
    parts = {}
    free = []
    for level, (entry, prefix) in enumerate(zip(entries, prefixes)):
        reported = _reported(entry, prefix)
        free.append(reported[0][1:3])
        part = entry.part or _part(tariff, entry)
        found = parts.get(id(part))  # parts are unique (Tariff.parts)
        if found is None:
            found = parts[id(part)] = (part, [])
        found[1].append((level, reported))
    return _Multiple(
        tuple((*part[:5], tuple(members)) for part, members in parts.values()),
        group, factors, shape, tuple(free))


def chain_index(tariff, plan_ids):
    "Return the _ChainIndex of ``plan_ids`` or None (unknown, mixed)."
    found = tariff.chains.get(plan_ids, NOT_BUILT)
    if found is NOT_BUILT:
        plans = tuple(tariff.plans.get(p) for p in plan_ids)
        found = None
        if plans and None not in plans and len({
                    (p.direction, p.service) for p in plans}) == 1:
            found = _ChainIndex(tariff, plans)
        tariff.chains[plan_ids] = found
    return found


def rate_batch(tariff, calls, rating):
    """Rate ``calls`` with ``rating`` (a fresh ``_Rating``) as fallback.

    Return the list of RatedCall in input order; ``rating.used`` holds the
    bundle seconds spent.
    """
    calls = calls if type(calls) is list else list(calls)
    results = [None] * len(calls)
    enabled = gc.isenabled()
    # Results are acyclic: the cyclic GC would only walk them, again and
    # again, as a big batch grows.
    gc.disable()
    try:
        deferred = _rate(tariff, enumerate(calls), rating, results, None)
        if deferred:
            # Calls that may spend a bundle, in start order (stable): each
            # one that finds its bundles empty is rated on the fast path.
            deferred.sort(key=lambda item: item[0])
            _rate(tariff, ((i, calls[i]) for _, i in deferred), rating,
                results, rating.left)
    finally:
        if enabled:
            gc.enable()
    return BatchResult(tuple(results), rating.used)


def _rate(tariff, calls, rating, results, settling):
    """Rate (index, call) of ``calls`` into ``results``.

    First pass (``settling`` None): return [(start, index)] of the calls
    that may spend a bundle. Second pass, over those in start order:
    ``settling`` is the balances left; a call that would take seconds from
    one goes through _Rating, which spends them.
    """
    fast = decimal.getcontext().prec >= MIN_PRECISION
    left = rating.left
    slow = rating.rate
    group_of = tariff.group_of
    # id(chain) → (chain, _ChainIndex or None, bundled, spenders)
    chains = {}
    by_value = {}
    conversions = {}  # day << 16 | shape id → factors or None
    zeros = {}  # id(route) → (route, factors, charges of a free call)
    deferred = []
    LC, RC = _LevelCharge, _RatedCall
    LevelCharge_, RatedCall_ = LevelCharge, RatedCall
    for i, call in calls:
        start = call.start
        if type(start) is not int:
            start = epoch(start)
        chain = call.chain
        known = chains.get(id(chain))
        if known is None or known[0] is not chain:
            known = chains[id(chain)] = _chain(
                tariff, chain, left, by_value, fast)
        index, bundled = known[1], known[2]
        if (index is None or call.direction != index.direction
                or call.service != index.service):
            if bundled and settling is None:
                number = (call.callee if call.direction == 'outbound'
                    else call.caller)
                if group_of(number) in bundled:
                    deferred.append((start, i))
                    continue
            results[i] = slow(call, start)
            continue
        number = call.callee if index.direction == 'outbound' else call.caller
        routes = index.routes
        for length in index.lengths:
            prefix = number[:length]
            route = routes.get(prefix)
            if route is not None:
                break
        else:
            route = SLOW
        if route is NOT_BUILT:
            route = index.route(prefix, start)
        elif type(route) is _Dated:
            for low, high, found in route:
                if low <= start < high:
                    route = found
                    break
            else:
                route = index.route(prefix, start)
        if route is SLOW:
            if (bundled and settling is None
                    and group_of(number) in bundled):
                deferred.append((start, i))
            else:
                results[i] = slow(call, start)
            continue
        multiple = type(route) is _Multiple
        if multiple:
            group, factors, shape = route.group, route.factors, route.shape
        else:
            (days, schedule, minimum, first, next_, group, factors, shape,
                by_rate) = route
        if factors is None:
            key = start // DAY << 16 | shape.id
            factors = conversions.get(key, NOT_BUILT)
            if factors is NOT_BUILT:
                factors = conversions[key] = _convert(
                    rating, shape, start)
            if factors is None:
                # No conversion rate, or a negative factor.
                if bundled and settling is None and group in bundled:
                    deferred.append((start, i))
                else:
                    results[i] = slow(call, start)
                continue
        duration = call.duration
        if duration <= 0 or not call.answered:
            # Costs nothing: the same (immutable) charges for every call.
            zero = zeros.get(id(route))
            if zero is None or zero[0] is not route or zero[1] is not factors:
                zero = zeros[id(route)] = (route, factors, _zero(
                        factors, route.free if multiple
                        else _free(by_rate[0], len(factors))))
            rated = RC(call.call_id, zero[2], None)
            rated.__class__ = RatedCall_
            results[i] = rated
            continue
        spending = False
        if bundled and group in bundled:
            if settling is None:
                deferred.append((start, i))
                continue
            spending = any(settling[key] > 0 for key in bundled[group])
        if multiple:
            levels = None if spending else _price_parts(
                route.parts, factors, start, duration)
            if levels is None:
                results[i] = slow(call, start)
            else:
                rated = RC(call.call_id, levels, None)
                rated.__class__ = RatedCall_
                results[i] = rated
            continue
        billed = duration if duration > minimum else minimum
        charged = (first if billed <= first
            else first - (first - billed) // next_ * next_)
        if days is None:
            rate = 0
        else:
            segments = days.get(start // DAY)
            if segments is None:
                segments = schedule.segments(start // DAY)
            cuts, rates = segments
            at = bisect_right(cuts, start) - 1
            rate = rates[at]
            if rate < 0 or start + charged > cuts[at + 1]:
                results[i] = slow(call, start)
                continue
        if spending:
            results[i] = _spend(rating, known[3], group, call.call_id,
                factors, by_rate[rate], charged)
            continue
        band, prefix, destination, connect, price, others = by_rate[rate]
        bands = ((band, charged),)
        levels = []
        if others is None:
            # Every level is priced from one rate.
            base = connect + price * charged
            for plan, currency, multiplier, fixed, add, den, costs in factors:
                quotient = (multiplier * base + fixed * charged + add) // den
                cost = costs.get(quotient)
                if cost is None:
                    cost = costs.make(quotient)
                charge = LC(plan, prefix, destination, charged, cost,
                    currency, 0, bands)
                charge.__class__ = LevelCharge_
                levels.append(charge)
        else:
            for (plan, currency, multiplier, fixed, add, den, costs), (
                    prefix, destination, connect, price) in zip(
                    factors, others):
                quotient = (multiplier * (connect + price * charged)
                    + fixed * charged + add) // den
                cost = costs.get(quotient)
                if cost is None:
                    cost = costs.make(quotient)
                charge = LC(plan, prefix, destination, charged, cost,
                    currency, 0, bands)
                charge.__class__ = LevelCharge_
                levels.append(charge)
        rated = RC(call.call_id, tuple(levels), None)
        rated.__class__ = RatedCall_
        results[i] = rated
    return deferred


def _chain(tariff, chain, left, by_value, fast):
    """Return (chain, _ChainIndex or None, bundled, spenders).

    ``bundled`` maps each group of a bundle that an account of the chain
    holds a balance of to those balances' keys: a call to such a group may
    spend one, so it waits for the second pass. ``spenders``: per level,
    (bundles of its plan, account). Index None: the slow path only.
    """
    key = tuple((level.plan, level.account) for level in chain)
    found = by_value.get(key)
    if found is None:
        bundled, spenders = {}, []
        for plan_id, account in key:
            plan = tariff.plans.get(plan_id)
            spenders.append((plan.bundles if plan else (), account))
            if plan is not None and account is not None and left:
                for bundle, groups in plan.bundles:
                    if (account, bundle) in left:
                        for group in groups:
                            bundled.setdefault(group, []).append(
                                (account, bundle))
        index = None
        if fast:
            index = chain_index(tariff, tuple(plan for plan, _ in key))
        found = by_value[key] = (index, bundled, tuple(spenders))
    return (chain, *found)


def _free(reported, count):
    "Per level (prefix, destination) of a rate index's ``reported``"
    _, prefix, destination, _, _, others = reported
    if others is None:
        return ((prefix, destination),) * count
    return tuple(other[:2] for other in others)


def _zero(factors, places):
    """Return the charges of a call that costs nothing (no connect fee);
    ``places``: per level (prefix, destination)."""
    levels = []
    for (plan, currency, *_, costs), (prefix, destination) in zip(
            factors, places):
        cost = costs.get(0)
        if cost is None:
            cost = costs.make(0)
        levels.append(LevelCharge(
                plan, prefix, destination, 0, cost, currency, 0, ()))
    return tuple(levels)


def _price_parts(parts, factors, start, duration):
    """Return the charges of a call on a _Multiple route, or None when a
    part's call leaves its band segment (or meets a gap)."""
    levels = [None] * len(factors)
    for days, schedule, minimum, first, next_, members in parts:
        billed = duration if duration > minimum else minimum
        charged = (first if billed <= first
            else first - (first - billed) // next_ * next_)
        if days is None:
            rate = 0
        else:
            segments = days.get(start // DAY)
            if segments is None:
                segments = schedule.segments(start // DAY)
            cuts, rates = segments
            at = bisect_right(cuts, start) - 1
            rate = rates[at]
            if rate < 0 or start + charged > cuts[at + 1]:
                return None
        bands = None
        for level, reported in members:
            band, prefix, destination, connect, price, _ = reported[rate]
            if bands is None:
                bands = ((band, charged),)
            plan, currency, multiplier, fixed, add, den, costs = factors[
                level]
            quotient = (multiplier * (connect + price * charged)
                + fixed * charged + add) // den
            cost = costs.get(quotient)
            if cost is None:
                cost = costs.make(quotient)
            charge = _LevelCharge(plan, prefix, destination, charged, cost,
                currency, 0, bands)
            charge.__class__ = LevelCharge
            levels[level] = charge
    return tuple(levels)


def _spend(rating, spenders, group, call_id, factors, reported, charged):
    """Return the RatedCall of a one-piece call that spends bundles.

    As _Rating.rate: the levels spend in chain order; a level's covered
    seconds are the first of the call, the rest pays its connect fee and
    price; a fully covered level costs 0.
    """
    band, prefix, destination, connect, price, others = reported
    bands = ((band, charged),)
    levels = []
    for j, (plan, currency, multiplier, fixed, add, den, costs) in enumerate(
            factors):
        if others is not None:
            prefix, destination, connect, price = others[j]
        bundles, account = spenders[j]
        covered = 0
        if bundles and account is not None and rating.left:
            covered = rating.spend(account, bundles, group, charged)
        if covered >= charged:
            quotient = 0
        else:
            paid = charged - covered
            quotient = (multiplier * (connect + price * paid) + fixed * paid
                + add) // den
        cost = costs.get(quotient)
        if cost is None:
            cost = costs.make(quotient)
        levels.append(LevelCharge(plan, prefix, destination, charged, cost,
                currency, covered, bands))
    return RatedCall(call_id, tuple(levels))


def _convert(rating, shape, start):
    "Return the factors of ``shape`` at ``start``'s date or None."
    conversions = []
    for source, target in shape.pairs:
        conversion = rating.conversion(source, target, start)
        if conversion is None:
            return None
        conversions.append(conversion)
    return shape.factors(tuple(conversions))
