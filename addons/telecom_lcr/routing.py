"""Compile the database's carriers, decks and policies into the engine's
routing index, kept in a Tryton cache beside the rating tariff.

Carrier and policy models clear the tariff cache when they change
(``TariffChangeMixin``); the routing index is rebuilt whenever the tariff
object it was built with is no longer the current one, so prices, plans
and carriers never disagree.
"""
import datetime as dt

from trytond.cache import Cache
from trytond.pool import Pool
from trytond.transaction import Transaction

from trytond.modules.telecom_rating.tariff import (
    Converter, database_groups, database_rates, database_time_bands,
    load_tariff)

from .engine import (
    Carrier, CarrierDeck, Gateway, PlanRouting, RoutingPolicy, RoutingRule,
    compile_routing)

routing_cache = Cache('telecom_lcr.routing', context=False)


def load_routing():
    "Return the compiled routing index of the current database"
    tariff = load_tariff()
    cached = routing_cache.get('routing')
    if cached is not None and cached[0] is tariff:
        return cached[1]
    index = compile_database_routing()
    routing_cache.set('routing', (tariff, index))
    return index


def _tenant(company):
    "The engine's tenant: None for the owner"
    return company.id if company.parent else None


def compile_database_routing(convert=None):
    pool = Pool()
    CarrierModel = pool.get('telecom.carrier')
    CarrierRate = pool.get('telecom.carrier.rate')
    Plan = pool.get('telecom.rate.plan')
    Policy = pool.get('telecom.routing.policy')
    Company = pool.get('company.company')

    carriers = []
    for carrier in CarrierModel.search([]):
        carriers.append(Carrier(
                carrier.id, carrier.name, carrier.currency.code,
                tuple(Gateway(g.address, g.transport)
                    for g in carrier.gateways),
                carrier.state, carrier.tech_prefix or '',
                carrier.strip_digits or 0, carrier.add_prefix or '',
                ((carrier.rewrite_pattern, carrier.rewrite_replacement or '')
                    if carrier.rewrite_pattern else None),
                carrier.max_calls, carrier.calls_per_second,
                frozenset(a.id for a in carrier.allowed_accounts),
                frozenset(p.id for p in carrier.allowed_plans),
                _tenant(carrier.company)))

    rate = CarrierRate.__table__()
    decks = []
    for carrier in carriers:
        for service in ['voice', 'fax', 'sms']:
            where = (rate.carrier == carrier.id) & (rate.service == service)
            cursor = Transaction().connection.cursor()
            cursor.execute(*rate.select(rate.id, where=where, limit=1))
            if cursor.fetchone():
                decks.append(CarrierDeck(carrier.id, (
                            r for _, r in database_rates(rate, where)),
                        service))

    plans = [PlanRouting(
            p.id, p.currency.code, p.parent.id if p.parent else None,
            _tenant(p.company)) for p in Plan.search([])]

    def rules(policy):
        return tuple(RoutingRule(
                r.callee_prefix or '', r.caller_prefix or '',
                r.group.code if r.group else None, r.strategy,
                tuple(c.carrier.id for c in r.carriers),
                {c.carrier.id: c.weight for c in r.carriers},
                r.max_routes) for r in policy.rules)
    policies = [RoutingPolicy(
            p.id, p.plan.id, p.service, p.strategy,
            tuple(c.carrier.id for c in p.carriers),
            {c.carrier.id: c.weight for c in p.carriers}, rules(p),
            p.max_routes, bool(p.loss_guard), p.max_cost, p.min_margin,
            p.min_margin_percent, p.min_asr, p.min_acd, p.max_pdd,
            p.min_samples or 0) for p in Policy.search([])]
    routing_tenants = {
        c.id for c in Company.search([('routing_control', '=', True)])}
    return compile_routing(
        carriers, decks, plans, policies,
        time_bands=database_time_bands(), groups=database_groups(),
        routing_tenants=routing_tenants, convert=convert or Converter(),
        order_date=dt.date.today())
