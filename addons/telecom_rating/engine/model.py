"""What the rating engine takes in and gives back.

Inputs (``Rate``, ``TimeBand``, ``RatePlan``, ``Call``…) carry ``Decimal``
money and ``datetime`` instants, as the Tryton layer and the CSV readers hold
them; ``compile_tariff`` turns them into integer indexes once. Outputs
(``LevelCharge``, ``RatedCall``) carry ``Decimal`` costs rounded with the
plan's method.
"""
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Hashable, Iterable, Mapping

ROUNDING_METHODS = ('half-up', 'up', 'down')
DIRECTIONS = ('outbound', 'inbound')
SERVICES = ('voice', 'fax', 'sms')
DAY_NAMES = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')

PlanId = Hashable
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Rate:
    "A price per minute for the numbers starting with ``prefix``."
    prefix: str
    price: Decimal
    destination: str = ''
    connect_fee: Decimal = ZERO
    min_duration: int = 0
    increment_first: int = 1
    increment_next: int = 1
    # Aware datetimes; a naive one is read as UTC. None: unbounded.
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    priority: int = 0
    # Name of a TimeBand; None applies at all times.
    time_band: str | None = None


@dataclass(frozen=True, slots=True)
class TimeBand:
    """One window of a named time band, in local time of ``timezone``.

    Several windows may share a name: the band is their union (e.g. off-peak
    = mon-fri 00:00-08:00 + mon-fri 18:00-24:00 + sat,sun 00:00-24:00).
    ``days`` are the days the window starts on (0 = Monday); a window with
    ``end <= start`` wraps midnight into the next day. Times are minutes
    since midnight, ``end`` may be 1440 (24:00).
    ``holidays``: dates on which every band of this time zone sees a Sunday.
    """
    name: str
    days: frozenset[int]
    start: int
    end: int
    timezone: str
    holidays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True, slots=True)
class Markup:
    """What a reseller plan adds to its parent's price for one group.

    ``percent`` applies to the parent's per-minute price and connect fee,
    ``per_minute`` is a fixed amount added to each charged minute.
    """
    percent: Decimal = ZERO
    per_minute: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Bundle:
    "Included seconds of a plan, spent on calls to ``groups``."
    id: Hashable
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class RatePlan:
    """A price list sold by one tenant.

    With a ``parent``, the plan inherits every rate of the parent: a call to
    a prefix the plan does not redefine costs the parent's price converted
    to this plan's currency plus the markup of the called number's group
    (key None of ``markups``: every number without a markup of its own).
    ``rates`` is read once by compile_tariff: a generator streaming a big
    deck keeps only the compiled form in memory.
    """
    id: PlanId
    currency: str
    rates: Iterable[Rate] = ()
    decimals: int = 4
    rounding: str = 'half-up'
    direction: str = 'outbound'
    service: str = 'voice'
    parent: PlanId | None = None
    markups: Mapping[str | None, Markup] = field(default_factory=dict)
    bundles: tuple[Bundle, ...] = ()


@dataclass(frozen=True, slots=True)
class Level:
    """Who pays which plan at one tenant level of a call.

    ``account`` keys the bundle balances; None spends no bundle.
    """
    plan: PlanId
    account: Hashable | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A CDR to rate.

    ``chain``: the levels from the owner down to the customer; level 0 is
    the owner's plan assigned to the first reseller (or to the customer).
    ``start``: aware datetime (naive is UTC) or UTC epoch seconds.
    ``duration``: billable seconds.
    """
    call_id: Hashable
    chain: tuple[Level, ...]
    caller: str
    callee: str
    start: dt.datetime | int
    duration: int
    direction: str = 'outbound'
    service: str = 'voice'
    answered: bool = True


@dataclass(frozen=True, slots=True)
class LevelCharge:
    "The price of a call at one tenant level."
    plan: PlanId
    prefix: str
    destination: str
    charged_seconds: int
    cost: Decimal
    currency: str
    bundle_seconds: int = 0
    # (band name or None, charged seconds) in timeline order.
    bands: tuple[tuple[str | None, int], ...] = ()


@dataclass(frozen=True, slots=True)
class RatedCall:
    """The result for one call: a charge per level, or the reason why not.

    An unrated call has no levels and spends no bundle.
    """
    call_id: Hashable
    levels: tuple[LevelCharge, ...] = ()
    reason: str | None = None

    @property
    def rated(self):
        return self.reason is None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Results in input order and the bundle seconds the batch spent.

    ``bundle_used`` maps (account, bundle id) to seconds used.
    """
    calls: tuple[RatedCall, ...]
    bundle_used: Mapping[tuple[Hashable, Hashable], int]


@dataclass(frozen=True, slots=True)
class BundleBalance:
    """Seconds left on a bundle for one account, by month of allowance.

    The engine sees only ``available``; the caller spends what a batch
    reports (oldest seconds first) and moves to the next month with
    ``next_month``: this month's unused allowance rolls over once, last
    month's carried seconds expire.
    """
    carried: int = 0
    current: int = 0

    @property
    def available(self):
        return self.carried + self.current

    def spend(self, seconds):
        if seconds > self.available:
            raise ValueError(
                f"cannot spend {seconds} s, {self.available} s available")
        from_carried = min(seconds, self.carried)
        return BundleBalance(
            self.carried - from_carried,
            self.current - (seconds - from_carried))

    def next_month(self, allowance):
        return BundleBalance(self.current, allowance)
