"""What the routing engine takes in and gives back.

Inputs are frozen dataclasses holding ``Decimal`` money, as the Tryton layer
and the CSV readers hold them; ``compile_routing`` turns them into integer
indexes once. Outputs (``Route``, ``Skip``, ``RoutingDecision``) are named
tuples: immutable like the inputs but about three times cheaper to build,
which matters when a decision must take a few microseconds.
"""
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Hashable, Iterable, Mapping, NamedTuple

from trytond.modules.telecom_rating.engine.model import Rate

STRATEGIES = ('least-cost', 'priority', 'weighted', 'quality')
CARRIER_STATES = ('active', 'disabled')
TRANSPORTS = ('udp', 'tcp', 'tls', 'ws', 'wss')
SKIP_REASONS = (
    'no_rate', 'restricted', 'disabled', 'over_capacity', 'loss',
    'max_cost', 'quality', 'margin')

CarrierId = Hashable
PlanId = Hashable
Tenant = Hashable


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where a carrier takes calls.

    ``address`` is a SIP host (``gw.example.net:5060``, ``sip:`` optional),
    giving ``sip:NUMBER@host;transport=…``, or a dialstring template with
    ``{number}`` (``PJSIP/{number}@carrier-a``) used as it is.
    """
    address: str
    transport: str = 'udp'


@dataclass(frozen=True, slots=True)
class Carrier:
    """A company that terminates calls, bought by ``tenant`` (None: owner).

    The called number is rewritten for the carrier in this order: drop
    ``strip_digits`` leading digits, put ``add_prefix`` in front, apply
    ``rewrite`` = (regular expression, replacement) if any (``re.sub``,
    first match), then put ``tech_prefix`` in front (the carrier's routing
    tag, never part of the number it bills). ``max_calls`` and
    ``calls_per_second`` cap its use (None: no cap); with
    ``allowed_accounts`` or ``allowed_plans`` (either suffices) only those
    customers or plans may use it (empty: everyone).
    """
    id: CarrierId
    name: str
    currency: str
    gateways: tuple[Gateway, ...]
    state: str = 'active'
    tech_prefix: str = ''
    strip_digits: int = 0
    add_prefix: str = ''
    rewrite: tuple[str, str] | None = None
    max_calls: int | None = None
    calls_per_second: int | None = None
    allowed_accounts: frozenset = frozenset()
    allowed_plans: frozenset = frozenset()
    tenant: Tenant | None = None


@dataclass(frozen=True, slots=True)
class CarrierDeck:
    """The buying prices of one carrier for one service.

    ``rates`` are rating-engine ``Rate``s in the carrier's currency, read
    once (a generator streaming a big deck keeps only the compiled form).
    """
    carrier: CarrierId
    rates: Iterable[Rate]
    service: str = 'voice'


@dataclass(frozen=True, slots=True)
class PlanRouting:
    """What routing needs of a rate plan.

    ``parent``: the plan it is built on (a reseller's plan on the plan its
    parent sells it); a plan without a policy of its own for a service uses
    its parent's. ``tenant``: who sells the plan (None: owner).
    """
    id: PlanId
    currency: str
    parent: PlanId | None = None
    tenant: Tenant | None = None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """A choice of strategy and carriers for some calls of a policy.

    A rule applies to called numbers starting with ``callee_prefix``, of
    destination ``group`` if set, from callers starting with
    ``caller_prefix``. The most specific applicable rule wins: longest
    callee prefix, then a rule naming a group, then longest caller prefix,
    then the first defined. Unset fields take the policy's.
    ``carriers``: the carriers it may use, in priority order (empty: all
    of the policy's); ``weights``: carrier → ratio for ``weighted``.
    """
    callee_prefix: str = ''
    caller_prefix: str = ''
    group: str | None = None
    strategy: str | None = None
    carriers: tuple[CarrierId, ...] = ()
    weights: Mapping[CarrierId, int] = field(default_factory=dict)
    max_routes: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """How calls of a rate plan for one service are routed.

    The policy belongs to the plan's tenant and uses only that tenant's
    carriers. Guards, in the plan's currency per minute: ``loss_guard``
    drops carriers costing more than the call's sell price; ``max_cost``
    caps the cost; ``min_margin`` (absolute) and ``min_margin_percent``
    (of the sell price) keep a margin (F25). Guards that need the sell
    price refuse every route when it is not given. Quality thresholds
    (ASR in percent, ACD and PDD in seconds) exclude carriers measured on
    at least ``min_samples`` calls; below that a carrier is neutral.
    """
    id: Hashable
    plan: PlanId
    service: str = 'voice'
    strategy: str = 'least-cost'
    carriers: tuple[CarrierId, ...] = ()
    weights: Mapping[CarrierId, int] = field(default_factory=dict)
    rules: tuple[RoutingRule, ...] = ()
    max_routes: int | None = None
    loss_guard: bool = False
    max_cost: Decimal | None = None
    min_margin: Decimal | None = None
    min_margin_percent: Decimal | None = None
    min_asr: Decimal | None = None
    min_acd: Decimal | None = None
    max_pdd: Decimal | None = None
    min_samples: int = 0


@dataclass(frozen=True, slots=True)
class QualityStats:
    """Completion statistics of a carrier for a destination group (F20).

    ``asr`` answer-seizure ratio in percent, ``acd`` average call duration
    and ``pdd`` post-dial delay in seconds, over ``samples`` calls.
    """
    asr: Decimal
    acd: Decimal
    pdd: Decimal = Decimal(0)
    samples: int = 0


@dataclass(frozen=True, slots=True)
class CarrierUsage:
    "Calls a carrier carries now and calls started in the current second."
    calls: int = 0
    per_second: int = 0


class Route(NamedTuple):
    """One carrier to try, in order.

    ``number``: the called number as sent (rewritten, with tech prefix);
    ``prefix``: the prefix of the carrier's deck that priced it;
    ``cost_per_minute``: at the call's start, in the plan's currency.
    In a tenant's view of another tenant's decision every field but the
    position is None.
    """
    carrier: CarrierId | None
    gateway: Gateway | None
    number: str | None
    dialstring: str | None
    cost_per_minute: Decimal | None
    currency: str | None
    prefix: str | None


class Skip(NamedTuple):
    "A carrier that cannot take the call, and why (one of SKIP_REASONS)."
    carrier: CarrierId
    reason: str


class RoutingDecision(NamedTuple):
    """The routes of a call in order, the carriers skipped and why.

    ``reason`` says in a sentence why there is no route (None when there
    are routes). ``policy`` and ``tenant`` name the policy applied and the
    tenant it belongs to; ``inherited`` tells that the plan uses a parent
    plan's policy. ``skipped`` lists the carriers without a rate and those
    passed over ahead of the last route returned.
    """
    routes: tuple[Route, ...]
    skipped: tuple[Skip, ...] = ()
    reason: str | None = None
    policy: Hashable | None = None
    tenant: Tenant | None = None
    inherited: bool = False
    strategy: str | None = None

    def view(self, tenant):
        """Return what ``tenant`` may see of this decision.

        A tenant sees its own policy's decision whole. Of a policy it
        inherits it sees only how many routes there are: no carrier, cost,
        gateway, skip or reason naming its parent's carriers.
        """
        if tenant == self.tenant:
            return self
        hidden = Route(None, None, None, None, None, None, None)
        reason = None
        if self.reason is not None:
            reason = "no route is available for this call"
        return RoutingDecision(
            (hidden,) * len(self.routes), (), reason, None, None, True, None)
