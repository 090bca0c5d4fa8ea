"""What call control decides from, held in memory by the API process.

Built from the database inside a Tryton transaction (``build``) and rebuilt
when ``switch.snapshot_cache`` or the rating tariff is cleared — which
Tryton propagates from any process that changes an account, a credential,
a number, a switch or a price. Deciding a call then reads only this
snapshot plus the live-call rows of the one account.
"""
import datetime as dt
import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sql import Literal, Null

from trytond.modules.telecom_base.numbering import dialled_number
from trytond.modules.telecom_rating.engine import Call, Level, rate_call
from trytond.transaction import Transaction

from .store import Limits

UTC = dt.timezone.utc


@dataclass(frozen=True)
class SwitchInfo:
    id: int
    code: str
    company: int
    # The tenants whose accounts the switch may decide calls of.
    companies: frozenset
    emergency_gateway: str | None
    # Kamailio's JSON-RPC URL: its dialogs are reconciled every minute
    rpc_url: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    id: int
    code: str
    company: int
    state: str
    prepaid: bool
    credit_limit: Decimal | None
    currency: str
    country: str | None
    national_prefix: str
    international_prefix: str
    limits: Limits
    wholesale: bool
    # (direction, service) → the plan ids from the owner down, or why none.
    chains: dict = field(default_factory=dict)


@dataclass
class Snapshot:
    tariff: object
    switches: dict            # key hash → SwitchInfo
    accounts: dict            # id → AccountInfo
    sip_users: dict           # username → account id
    networks: list            # (network, account id), most specific first
    tech_prefixes: dict       # prefix → account id
    numbers: dict             # E.164 digits → account id
    sip_addresses: dict       # user@domain → account id
    emergency: dict           # country code or None → frozenset of numbers
    # currency code → ((date, rate), …) sorted by date: Tryton's rates.
    rates: dict = field(default_factory=dict)
    # route_call(plan, service, caller, callee, at, account, sell_price)
    # → the LCR decision; set from telecom_lcr's compiled routing.
    router: object = None
    prefix_lengths: tuple = ()
    carrier_codes: dict = field(default_factory=dict)
    # telecom_lcr's compiled index the router uses (a new one: rebuild)
    routing: object = None
    # E.164 number or user@domain → where an inbound call to it rings:
    # (('line', SIP user, realm) | ('trunk', SIP user, realm) |
    #  ('host', account code, host), …)
    inbound: dict = field(default_factory=dict)
    _normalized: dict = field(default_factory=dict, repr=False)

    def convert(self, source, target, date):
        "The rating engine's conversion contract, from the snapshot's rates"
        if source == target:
            return Decimal(1)

        def rate(code):
            found = None
            for day, value in self.rates.get(code, ()):
                if day > date:
                    break
                found = value
            return found
        source_rate, target_rate = rate(source), rate(target)
        if not source_rate or not target_rate:
            return None
        return target_rate / source_rate

    def routes(self, account, service, caller, callee, at, sell_price,
            emergency, switch):
        """The routes to try, in order, as the switch needs them."""
        routes = []
        chain = account.chains.get(('outbound', service))
        if self.router is not None and chain and not isinstance(chain, str):
            decision = self.router(
                chain[-1], service, caller, callee, at, account.id,
                None if emergency else sell_price)
            for route in decision.routes:
                host = route.gateway.address
                if host.startswith('sip:'):
                    host = host[4:]
                transport = route.gateway.transport
                parameters = (
                    f';transport={transport}' if transport != 'udp' else '')
                routes.append({
                        'carrier': self.carrier_codes.get(
                            route.carrier, str(route.carrier)),
                        'gateway': route.gateway.address,
                        'dialstring': route.dialstring,
                        'uri': f'sip:{route.number}@{host}{parameters}',
                        'dst_uri': f'sip:{host}{parameters}',
                        'cost_per_minute': str(route.cost_per_minute),
                        })
        if not routes and emergency and switch.emergency_gateway:
            host = switch.emergency_gateway
            if host.startswith('sip:'):
                host = host[4:]
            host = host.split('@')[-1]
            routes.append({
                    'carrier': 'emergency', 'gateway': f'sip:{host}',
                    'dialstring': callee, 'uri': f'sip:{callee}@{host}',
                    'dst_uri': f'sip:{host}'})
        # A reseller's switch never learns its parent's carrier costs.
        for route in routes:
            route.pop('cost_per_minute', None)
        return routes

    def inbound_routes(self, callee, sip_domain):
        """The routes of an inbound call to a number or SIP address: the
        registered phones of its line, or the account's trunk; Asterisk
        dials ``dialstring``, Kamailio looks ``uri`` up in its location
        table (lines) or relays to ``dst_uri`` (trunks)."""
        targets = self.inbound.get(callee)
        if targets is None and sip_domain:
            targets = self.inbound.get(f'{callee}@{sip_domain}'.lower())
        routes = []
        for kind, name, where in targets or ():
            if kind == 'line':
                routes.append({'carrier': 'line', 'gateway': None,
                        'dialstring': f'PJSIP/{name}',
                        'uri': f'sip:{name}@{where}', 'dst_uri': None})
            elif kind == 'trunk':
                routes.append({'carrier': 'trunk', 'gateway': None,
                        'dialstring': f'PJSIP/{callee}@{name}',
                        'uri': f'sip:{callee}@{where}', 'dst_uri': None})
            else:
                routes.append({'carrier': 'trunk', 'gateway': f'sip:{where}',
                        'dialstring': f'PJSIP/{callee}@{name}',
                        'uri': f'sip:{callee}@{where}',
                        'dst_uri': f'sip:{where}'})
        return routes

    # --- identification (F4, F5) -----------------------------------------

    def identify(self, direction, callee, sip_username, source_ip,
            sip_domain):
        """Return (account id, callee without tech prefix) or (None, callee).

        Outbound: SIP username, then source IP, then tech prefix. Inbound:
        the called DID, then the SIP address user@domain."""
        if direction == 'outbound':
            if sip_username and sip_username in self.sip_users:
                return self.sip_users[sip_username], callee
            account = None
            if source_ip:
                try:
                    address = ipaddress.ip_address(source_ip)
                except ValueError:
                    address = None
                if address is not None:
                    for network, account_id in self.networks:
                        if address in network:
                            account = account_id
                            break
            # A tech prefix picks the account among those behind one IP,
            # or alone when no IP matches.
            for length in self.prefix_lengths:
                prefix = callee[:length]
                owner = self.tech_prefixes.get(prefix)
                if owner is not None and account in (None, owner):
                    return owner, callee[length:]
            return account, callee
        if callee in self.numbers:
            return self.numbers[callee], callee
        if sip_domain:
            address = f'{callee}@{sip_domain}'.lower()
            if address in self.sip_addresses:
                return self.sip_addresses[address], callee
        return None, callee

    def is_emergency(self, account, number):
        return (number in self.emergency.get(None, ())
            or number in self.emergency.get(account.country, ()))

    def normalize(self, account, number):
        """The E.164 digits of a dialled number. Trunks (wholesale) send
        E.164 by convention; other accounts dial as at home. Memoized for
        the snapshot's life (phonenumbers costs tens of microseconds)."""
        key = (account.id, number)
        try:
            return self._normalized[key]
        except KeyError:
            pass
        if len(self._normalized) > 200_000:
            self._normalized.clear()
        value = self._normalized[key] = self._normalize(account, number)
        return value

    def _normalize(self, account, number):
        return dialled_number(number, **self.dialling(account))

    @staticmethod
    def dialling(account):
        "The account's dialling rules (numbering.dialled_number)"
        return {'wholesale': account.wholesale, 'country': account.country,
            'national_prefix': account.national_prefix,
            'international_prefix': account.international_prefix}

    # --- prices ------------------------------------------------------------

    def pricer(self, account, direction, service, caller, callee, at,
            convert=None):
        """Return (cost_of(seconds) at the account's level, chain) or the
        reason the call has no price."""
        chain = account.chains.get((direction, service))
        if chain is None or isinstance(chain, str):
            return chain or 'no plan'
        customer = (Level(chain[-1], account.id),)
        tariff = self.tariff
        costs = {}
        # The plan's prices are in its currency, the balance in the
        # account's: costs are converted (exactly) at the call's date.
        plan_currency = tariff.plans[chain[-1]].currency
        rate = Decimal(1)
        if plan_currency != account.currency:
            rate = self.convert(plan_currency, account.currency, at.date())
            if rate is None:
                return (f"no rate from {plan_currency} to "
                    f"{account.currency} on {at.date()}")

        def cost_of(seconds):
            if seconds not in costs:
                result = rate_call(tariff, Call(
                        'price', customer, caller, callee, at, seconds,
                        direction, service, True), convert)
                if not result.rated:
                    raise LookupError(result.reason)
                costs[seconds] = result.levels[-1].cost * rate
            return costs[seconds]
        try:
            cost_of(60)
        except LookupError as exception:
            return str(exception)
        return cost_of, chain


def _networks(rows):
    networks = []
    for claim, account in rows:
        networks.append((ipaddress.ip_network(claim), account))
    networks.sort(key=lambda n: n[0].prefixlen, reverse=True)
    return networks


def build(pool, tariff, router=None):
    "Read the snapshot of the current database (inside a transaction)"
    Switch = pool.get('telecom.switch')
    Company = pool.get('company.company')
    Account = pool.get('telecom.account')
    Credential = pool.get('telecom.credential')
    Number = pool.get('telecom.number')
    SipAddress = pool.get('telecom.sip_address')
    Emergency = pool.get('telecom.emergency.number')

    switches = {}
    for switch in Switch.search([('key_hash', '!=', None)]):
        switches[switch.key_hash] = SwitchInfo(
            switch.id, switch.code, switch.company.id,
            frozenset(Company.subtree([switch.company.id])),
            switch.emergency_gateway, switch.rpc_url or None)

    accounts = {}
    for account in Account.search([('state', '!=', 'closed')]):
        chains = {}
        for plan in account.rate_plans:
            key = (plan.direction, plan.service)
            chain = account.rating_chain(*key)
            chains[key] = (chain if isinstance(chain, str)
                else tuple(p.id for p, _ in chain))
        accounts[account.id] = AccountInfo(
            account.id, account.code, account.company.id, account.state,
            account.billing_mode == 'prepaid', account.credit_limit,
            account.currency.code,
            account.country.code if account.country else None,
            account.national_prefix or '', account.international_prefix or '',
            Limits(account.max_outbound, account.max_inbound,
                account.max_total, account.extra_calls or 0,
                account.over_limit),
            account.flavour == 'wholesale', chains)

    sip_users, networks, prefixes = {}, [], {}
    # Where inbound calls ring: a line's phones, else the account's.
    of_line, of_account = defaultdict(list), defaultdict(list)
    for credential in Credential.search([('claim', '!=', None)]):
        account = accounts.get(credential.account.id)
        if account is None:
            continue
        if credential.kind == 'sip':
            sip_users[credential.claim] = account.id
            target = ('trunk' if account.wholesale else 'line',
                credential.claim, credential.realm)
            if credential.line:
                of_line[credential.line.id].append(target)
            of_account[account.id].append(target)
        elif credential.kind == 'ip':
            networks.append((credential.claim, account.id))
            network = ipaddress.ip_network(credential.claim)
            if network.num_addresses == 1:
                of_account[account.id].append(
                    ('host', account.code, str(network.network_address)))
        else:
            prefixes[credential.claim] = account.id
    numbers, addresses, inbound = {}, {}, {}
    today = dt.date.today()
    cursor = Transaction().connection.cursor()
    for Model, key, claimed in [
            (Number, 'number', numbers),
            (SipAddress, 'address', addresses)]:
        # In SQL: a million numbers read through the ORM take minutes.
        table = Model.__table__()
        columns = [getattr(table, key), table.account, table.line]
        # A number given back (telecom_billing's end date) is no longer
        # its account's; its next holder's may follow.
        if 'end_date' in Model._fields:
            where = (table.end_date == Null) | (table.end_date >= today)
        else:
            where = Literal(True)
        cursor.execute(*table.select(*columns, where=where,
                order_by=[table.id.asc]))
        for value, account, line in cursor:
            if account not in accounts:
                continue
            claimed[value] = account
            inbound[value] = tuple(of_line[line] if line
                else of_account[account])
    Rate = pool.get('currency.currency.rate')
    rates = {}
    for rate in Rate.search([], order=[('date', 'ASC')]):
        rates.setdefault(rate.currency.code, []).append((rate.date, rate.rate))
    emergency = {}
    for number in Emergency.search([]):
        code = number.country.code if number.country else None
        emergency.setdefault(code, set()).add(number.number)
    return Snapshot(
        tariff, switches, accounts, sip_users, _networks(networks), prefixes,
        numbers, addresses,
        {k: frozenset(v) for k, v in emergency.items()},
        {k: tuple(v) for k, v in rates.items()}, router,
        tuple(sorted({len(p) for p in prefixes}, reverse=True)),
        {c.id: c.code for c in pool.get('telecom.carrier').search([])},
        inbound=inbound)
