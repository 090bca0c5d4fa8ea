"""Compilation of rate plans, destination groups and time bands.

``compile_tariff`` checks the whole input, then builds per plan a dict
prefix → rates in which inherited prefixes are already merged: the entry
of a prefix lists the plan's own rates first, then those of its parent,
and so on, so rating a call is one dict probe per prefix length.
"""
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Hashable

from .bands import BandSchedule, ZoneOffsets
from .model import DIRECTIONS, ROUNDING_METHODS, SERVICES
from .money import ratio, to_nano

ALWAYS = -(1 << 62)
FOREVER = 1 << 62
NO_MARKUP = (1, 1, 0)
NO_GROUP = object()
# Bound of the memo of prefix → destination group.
PREFIX_GROUPS = 1 << 20


class TariffError(ValueError):
    "The plans cannot be compiled; ``problems`` lists every reason."

    def __init__(self, problems):
        self.problems = tuple(problems)
        super().__init__('; '.join(self.problems))


@dataclass(slots=True, eq=False)
class CompiledRate:
    "A rate with integer money (nano-units) and epoch validity."
    plan: Hashable
    destination: str
    price: int
    connect: int
    minimum: int
    first: int
    next: int
    valid_from: int
    valid_to: int
    priority: int
    band: str | None

    def precedence(self):
        # Highest priority, then latest start, then banded before unbanded
        # (the more specific rate wins a tie), then band name for order.
        return (-self.priority, -self.valid_from, self.band is None,
            self.band or '')


@dataclass(slots=True, eq=False)
class PrefixRates:
    """The rates of one prefix in a plan's index.

    Undated (every rate of the nearest defining plan valid at all times):
    ``rates`` are that plan's rates, ``schedule`` their BandSchedule (None
    when the strongest rate has no band) and ``uniform`` tells whether they
    share minimum and increments. Dated: ``rates`` are those of every plan
    of the inheritance line, strongest first, filtered per call.
    """
    rates: tuple
    dated: bool
    schedule: object = None
    uniform: bool | None = None
    # Memos of the batch fast path (batch._reported, batch._part).
    reported: tuple | None = None
    part: tuple | None = None


def prefix_rates(tariff, rates, own=False):
    """Return the PrefixRates of ``rates``, nearest plan first (``own``:
    all of one plan)."""
    tier = rates if own else tuple(
        r for r in rates if r.plan == rates[0].plan)
    if any(r.valid_from != ALWAYS or r.valid_to != FOREVER for r in tier):
        return PrefixRates(rates, True)
    return resolved(tariff, tier)


def resolved(tariff, rates):
    "Return the undated PrefixRates of the rates in force ``rates``."
    # Equal rates are one tuple (_compile_rates): their schedule and
    # uniformity are worked out once.
    found = tariff.resolutions.get(rates)
    if found is None:
        first = rates[0]
        schedule = None
        if first.band is not None:
            schedule = tariff.schedule(tuple(r.band for r in rates))
        uniform = all(r.minimum == first.minimum and r.first == first.first
            and r.next == first.next for r in rates)
        found = tariff.resolutions[rates] = (schedule, uniform)
    return PrefixRates(rates, False, *found)


class CompiledPlan:
    __slots__ = (
        'id', 'currency', 'decimals', 'rounding', 'direction', 'service',
        'parent', 'index', 'lengths', 'markups', 'bundles')

    def __init__(self, plan, index, markups):
        self.id = plan.id
        self.currency = plan.currency
        self.decimals = plan.decimals
        self.rounding = plan.rounding
        self.direction = plan.direction
        self.service = plan.service
        self.parent = plan.parent
        self.index = index
        # Probed longest first; only lengths that occur.
        self.lengths = tuple(sorted({len(p) for p in index}, reverse=True))
        self.markups = markups
        self.bundles = tuple((b.id, b.groups) for b in plan.bundles)

    def markup(self, group):
        markups = self.markups
        if group in markups:
            return markups[group]
        return markups.get(None, NO_MARKUP)


class Tariff:
    """Compiled plans, groups and bands: what the rating functions read.

    Immutable once built, except for memos filled on first use that never
    change a result: band schedules keyed by the bands of a rate set, and
    what the batch fast path derives per chain of plans (``chains``, see
    batch.py) and per shape of a chain's pricing (``shapes``).
    """

    def __init__(self, plans, groups, bands, holidays, zones):
        self.plans = plans
        self.groups = groups
        self.group_lengths = tuple(
            sorted({len(p) for p in groups}, reverse=True))
        self.bands = bands
        self._holidays = holidays
        self._zones = zones
        self._schedules = {}
        self._in_force = {}
        self._prefix_groups = {}
        # rates → (schedule, uniform) of resolved()
        self.resolutions = {}
        self.parts = {}
        self.chains = {}
        self.shapes = {}

    def group_of(self, number):
        "Return the destination group of ``number`` or None."
        groups = self.groups
        for length in self.group_lengths:
            group = groups.get(number[:length])
            if group is not None:
                return group
        return None

    def group_of_prefix(self, prefix):
        """group_of for a prefix of the index: memoised, as every chain's
        route of the prefix asks for it."""
        groups = self._prefix_groups
        group = groups.get(prefix, NO_GROUP)
        if group is NO_GROUP:
            if len(groups) >= PREFIX_GROUPS:
                groups.clear()
            group = groups[prefix] = self.group_of(prefix)
        return group

    def schedule(self, band_names):
        """Return the BandSchedule of rates with ``band_names`` (None: all).

        Keyed by the bands' windows, not their names: tenants that each
        name their own peak and off-peak alike share one schedule, and
        its memo of days.
        """
        schedule = self._schedules.get(band_names)
        if schedule is None:
            windows = tuple(
                tuple((w.days, w.start, w.end, w.timezone)
                    for w in self.bands[n]) if n else None
                for n in band_names)
            schedule = self._schedules.get(windows)
            if schedule is None:
                zone = next(
                    self.bands[n][0].timezone for n in band_names if n)
                schedule = BandSchedule(
                    [self.bands[n] if n else None for n in band_names],
                    self._zones[zone], self._holidays[zone])
                self._schedules[windows] = schedule
            self._schedules[band_names] = schedule
        return schedule

    def in_force(self, prefix, rates):
        """Return the undated PrefixRates of ``rates`` (those of a dated
        entry of ``prefix`` valid at some instant), the same object for
        the same rates: what the batch fast path memoises per entry (with
        its prefix) is kept."""
        key = (prefix, rates)
        found = self._in_force.get(key)
        if found is None:
            found = self._in_force[key] = resolved(self, rates)
        return found


def epoch(moment):
    "Return aware (or naive UTC) ``moment`` as integer UTC epoch seconds."
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp())


def compile_tariff(plans, time_bands=(), groups=None):
    """Compile ``plans`` (RatePlan) with their time bands and groups.

    ``groups`` maps a destination group name to its prefixes. Raise
    TariffError listing every problem found.
    """
    problems = []
    bands, holidays, zones = _compile_bands(time_bands, problems)
    group_index = {}
    for name, prefixes in (groups or {}).items():
        for prefix in prefixes:
            if not prefix.isdigit():
                problems.append(f"group {name}: prefix {prefix!r} "
                    "is not a string of digits")
            elif group_index.setdefault(prefix, name) != name:
                problems.append(f"prefix {prefix} is in groups "
                    f"{group_index[prefix]} and {name}")
    by_id = {}
    for plan in plans:
        if plan.id in by_id:
            problems.append(f"plan {plan.id} is defined twice")
        by_id[plan.id] = plan
    tariff = Tariff({}, group_index, bands, holidays, zones)
    compiled = tariff.plans
    for plan in _parents_first(by_id, problems):
        _check_plan(plan, group_index, problems)
        own = _compile_rates(plan, bands, problems)
        parent = compiled[plan.parent].index if plan.parent is not None else {}
        index = dict(parent)
        for prefix, rates in own.items():
            inherited = parent.get(prefix)
            if inherited is not None:
                index[prefix] = prefix_rates(tariff, rates + inherited.rates)
            else:
                index[prefix] = prefix_rates(tariff, rates, own=True)
        markups = {}
        for group, markup in plan.markups.items():
            try:
                multiplier, divisor = ratio(1 + Decimal(markup.percent) / 100)
                markups[group] = (
                    multiplier, divisor, to_nano(markup.per_minute))
            except ValueError as exception:
                problems.append(f"plan {plan.id}: markup of group {group}: "
                    f"{exception}")
        compiled[plan.id] = CompiledPlan(plan, index, markups)
    if problems:
        raise TariffError(problems)
    return tariff


def _compile_bands(time_bands, problems):
    bands, holidays, zones = {}, {}, {}
    for band in time_bands:
        if band.timezone not in zones:
            try:
                zones[band.timezone] = ZoneOffsets(band.timezone)
            except (ValueError, LookupError):
                problems.append(f"band {band.name}: unknown time zone "
                    f"{band.timezone}")
                continue
        windows = bands.setdefault(band.name, [])
        if windows and windows[0].timezone != band.timezone:
            problems.append(f"band {band.name}: windows in time zones "
                f"{windows[0].timezone} and {band.timezone}")
        if not (0 <= band.start < 1440 and 0 <= band.end <= 1440):
            problems.append(f"band {band.name}: times out of 00:00-24:00")
        if not band.days or not band.days <= set(range(7)):
            problems.append(f"band {band.name}: no valid days")
        windows.append(band)
        days = holidays.setdefault(band.timezone, set())
        days.update(d.toordinal() - dt.date(1970, 1, 1).toordinal()
            for d in band.holidays)
    bands = {name: tuple(windows) for name, windows in bands.items()}
    holidays = {zone: frozenset(days) for zone, days in holidays.items()}
    return bands, holidays, zones


def _parents_first(by_id, problems):
    ordered, placed = [], set()

    def place(plan, path):
        if plan.id in placed:
            return True
        if plan.id in path:
            problems.append(f"plan {plan.id} inherits from itself")
            return False
        if plan.parent is not None:
            parent = by_id.get(plan.parent)
            if parent is None:
                problems.append(
                    f"plan {plan.id}: parent plan {plan.parent} is missing")
                return False
            if not place(parent, path | {plan.id}):
                return False
        placed.add(plan.id)
        ordered.append(plan)
        return True

    for plan in by_id.values():
        place(plan, frozenset())
    return ordered


def _check_plan(plan, group_index, problems):
    if plan.rounding not in ROUNDING_METHODS:
        problems.append(f"plan {plan.id}: rounding {plan.rounding!r} is not "
            f"one of {', '.join(ROUNDING_METHODS)}")
    if plan.direction not in DIRECTIONS:
        problems.append(f"plan {plan.id}: unknown direction {plan.direction}")
    if plan.service not in SERVICES:
        problems.append(f"plan {plan.id}: unknown service {plan.service}")
    if not 0 <= plan.decimals <= 12:
        problems.append(f"plan {plan.id}: decimals must be 0 to 12")
    known = set(group_index.values())
    for group in plan.markups:
        if group is not None and group not in known:
            problems.append(f"plan {plan.id}: markup for unknown group "
                f"{group}")
    for bundle in plan.bundles:
        for group in bundle.groups - known:
            problems.append(f"plan {plan.id}: bundle {bundle.id} names "
                f"unknown group {group}")


def _compile_rates(plan, bands, problems):
    "Return prefix → tuple of CompiledRate, strongest first."
    index = {}
    # A deck repeats one price for every prefix of a destination: equal
    # rates (a CompiledRate holds no prefix) are one object, and so are
    # equal tuples of them, which keeps a big deck's memory down.
    interned = {}
    nanos = {}
    for rate in plan.rates:
        where = f"plan {plan.id}, prefix {rate.prefix}"
        try:
            compiled = _compile_rate(plan.id, rate, bands, interned, nanos)
        except ValueError as exception:
            problems.append(f"{where}: {exception}")
            continue
        rates = index.get(rate.prefix)
        if rates is None:
            index[rate.prefix] = compiled
        elif type(rates) is list:
            rates.append(compiled)
        else:
            index[rate.prefix] = [rates, compiled]
    for prefix, rates in index.items():
        if type(rates) is not list:
            index[prefix] = interned.setdefault((rates,), (rates,))
            continue
        rates.sort(key=CompiledRate.precedence)
        keys = set()
        for rate in rates:
            key = (rate.valid_from, rate.band, rate.priority)
            if key in keys:
                problems.append(f"plan {plan.id}, prefix {prefix}: two rates "
                    "with the same valid from, time band and priority")
            keys.add(key)
        zones = {bands[r.band][0].timezone for r in rates if r.band}
        if len(zones) > 1:
            problems.append(f"plan {plan.id}, prefix {prefix}: time bands "
                f"in several time zones ({', '.join(sorted(zones))})")
        rates = tuple(rates)
        index[prefix] = interned.setdefault(rates, rates)
    return index


def _compile_rate(plan_id, rate, bands, interned, nanos):
    """Return the CompiledRate of ``rate``, the one of ``interned`` when
    an equal rate was compiled before (``nanos``: memo of to_nano)."""
    if not rate.prefix.isdigit():
        raise ValueError("prefix is not a string of digits")
    price = nanos.get(rate.price)
    if price is None:
        price = nanos[rate.price] = to_nano(rate.price)
    connect = to_nano(rate.connect_fee) if rate.connect_fee else 0
    if price < 0 or connect < 0:
        raise ValueError("negative price or connect fee")
    if rate.increment_first < 1 or rate.increment_next < 1:
        raise ValueError("increments must be at least 1 second")
    if rate.min_duration < 0:
        raise ValueError("negative minimum duration")
    valid_from = (epoch(rate.valid_from) if rate.valid_from is not None
        else ALWAYS)
    valid_to = epoch(rate.valid_to) if rate.valid_to is not None else FOREVER
    if valid_to <= valid_from:
        raise ValueError("valid to is not after valid from")
    band = rate.time_band or None
    if band is not None and band not in bands:
        raise ValueError(f"unknown time band {band}")
    destination = interned.setdefault(rate.destination, rate.destination)
    key = (destination, price, connect, rate.min_duration,
        rate.increment_first, rate.increment_next, valid_from, valid_to,
        rate.priority, band)
    compiled = interned.get(key)
    if compiled is None:
        compiled = interned[key] = CompiledRate(plan_id, *key)
    return compiled
