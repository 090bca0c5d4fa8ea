"""Carriers as the router reads them: checked once, then dialled fast."""
import re

from trytond.modules.telecom_rating.engine.model import SERVICES

from .model import CARRIER_STATES, TRANSPORTS


class CompiledCarrier:
    """A checked carrier with what a decision needs precomputed.

    ``bit`` is 1 << its position in the index, so carrier sets are ints.
    ``open`` is True for an active carrier without restriction or cap: the
    common case costs one test per call.
    """
    __slots__ = (
        'id', 'name', 'currency', 'tenant', 'position', 'bit', 'active',
        'open', 'gateway', 'gateways', 'strip', 'add', 'regex', 'dialled',
        'replacement', 'tech_prefix', 'max_calls', 'calls_per_second',
        'allowed_accounts', 'allowed_plans')

    def __init__(self, carrier, position):
        self.id = carrier.id
        self.name = carrier.name
        self.currency = carrier.currency
        self.tenant = carrier.tenant
        self.position = position
        self.bit = 1 << position
        self.active = carrier.state == 'active'
        self.gateways = tuple(carrier.gateways)
        self.gateway = self.gateways[0] if self.gateways else None
        # What goes around the number in the dialstring of the gateway.
        self.dialled = None
        if self.gateway is not None:
            self.dialled = dialstring(self.gateway, '\0').split('\0', 1)
        self.strip = carrier.strip_digits
        self.add = carrier.add_prefix
        self.regex = self.replacement = None
        if carrier.rewrite:
            self.regex = re.compile(carrier.rewrite[0])
            self.replacement = carrier.rewrite[1]
        self.tech_prefix = carrier.tech_prefix
        self.max_calls = carrier.max_calls
        self.calls_per_second = carrier.calls_per_second
        self.allowed_accounts = frozenset(carrier.allowed_accounts)
        self.allowed_plans = frozenset(carrier.allowed_plans)
        self.open = (self.active and not self.allowed_accounts
            and not self.allowed_plans and self.max_calls is None
            and self.calls_per_second is None)

    def number(self, callee):
        "Return ``callee`` as this carrier wants it, tech prefix included."
        number = callee[self.strip:] if self.strip else callee
        if self.add:
            number = self.add + number
        if self.regex is not None:
            number = self.regex.sub(self.replacement, number, count=1)
        return self.tech_prefix + number

    def dial(self, callee):
        "Return (number, dialstring) to reach ``callee`` through this carrier."
        number = self.number(callee)
        head, tail = self.dialled
        return number, head + number + tail

    def refusal(self, account, lineage, usage):
        """Return why this carrier cannot take a call, or None.

        ``lineage``: the request's plan and its ancestors; ``usage``: the
        CarrierUsage by carrier id, or None.
        """
        if not self.active:
            return 'disabled'
        if self.allowed_accounts or self.allowed_plans:
            if (account not in self.allowed_accounts
                    and self.allowed_plans.isdisjoint(lineage)):
                return 'restricted'
        if usage is not None:
            used = usage.get(self.id)
            if used is not None and (
                    (self.max_calls is not None
                        and used.calls >= self.max_calls)
                    or (self.calls_per_second is not None
                        and used.per_second >= self.calls_per_second)):
                return 'over_capacity'
        return None


def dialstring(gateway, number):
    "Return what the switch dials to reach ``number`` through ``gateway``."
    address = gateway.address
    if '{number}' in address:
        return address.replace('{number}', number)
    if address.startswith('sip:'):
        address = address[4:]
    if gateway.transport == 'udp':
        return f'sip:{number}@{address}'
    return f'sip:{number}@{address};transport={gateway.transport}'


def check_carrier(carrier, problems):
    "Append to ``problems`` what makes ``carrier`` unusable."
    where = f"carrier {carrier.id}"
    if not carrier.currency:
        problems.append(f"{where}: no currency")
    if carrier.state not in CARRIER_STATES:
        problems.append(f"{where}: state {carrier.state!r} is not one of "
            + ', '.join(CARRIER_STATES))
    if not carrier.gateways:
        problems.append(f"{where}: no gateway")
    for gateway in carrier.gateways:
        if not gateway.address:
            problems.append(f"{where}: a gateway has no address")
        if gateway.transport not in TRANSPORTS:
            problems.append(f"{where}: transport {gateway.transport!r} is "
                "not one of " + ', '.join(TRANSPORTS))
    if carrier.strip_digits < 0:
        problems.append(f"{where}: strip_digits is negative")
    for name in ('max_calls', 'calls_per_second'):
        value = getattr(carrier, name)
        if value is not None and value < 0:
            problems.append(f"{where}: {name} is negative")
    if carrier.rewrite:
        pattern, replacement = carrier.rewrite
        try:
            # Substituting into a sample checks the replacement's groups.
            re.compile(pattern).sub(replacement, '', count=1)
        except (re.error, IndexError) as exception:
            problems.append(f"{where}: rewrite {pattern!r} → "
                f"{replacement!r}: {exception}")


def check_service(service, where, problems):
    if service not in SERVICES:
        problems.append(f"{where}: unknown service {service!r}; expected "
            + ', '.join(SERVICES))
