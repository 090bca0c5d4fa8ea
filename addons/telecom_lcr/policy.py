"""Routing policies of rate plans (F19): which carriers, in what order."""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields, sequence_ordered
from trytond.pool import Pool, PoolMeta
from trytond.transaction import check_access

from trytond.modules.telecom_rating.plan import (
    PRICE_DIGITS, SERVICES, TariffChangeMixin)

from .engine.model import STRATEGIES
from .exceptions import RoutingPolicyError

STRATEGY_SELECTION = [
    ('least-cost', "Least cost"),
    ('priority', "Priority order"),
    ('weighted', "Weighted load balancing"),
    ('quality', "Quality (ASR/ACD)"),
    ]
assert {s for s, _ in STRATEGY_SELECTION} == set(STRATEGIES)


class Company(TariffChangeMixin, metaclass=PoolMeta):
    __name__ = 'company.company'
    routing_control = fields.Boolean(
        "Controls Its Routing",
        help="The reseller defines routing policies for its own plans, "
        "with its own carriers; otherwise its customers' calls follow the "
        "policy of the plan it buys.")


class RoutingPolicy(TariffChangeMixin, ModelSQL, ModelView):
    "Routing Policy"
    __name__ = 'telecom.routing.policy'
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='CASCADE')
    service = fields.Selection(SERVICES, "Service", required=True)
    strategy = fields.Selection(
        STRATEGY_SELECTION, "Strategy", required=True)
    carriers = fields.One2Many(
        'telecom.routing.policy.carrier', 'policy', "Carriers",
        help="The carriers the policy may use, in priority order, with "
        "their weights. Empty: every carrier of the tenant.")
    rules = fields.One2Many('telecom.routing.rule', 'policy', "Rules",
        help="Other strategies or carriers for some called numbers or "
        "callers; the most specific rule wins.")
    max_routes = fields.Integer(
        "Max Routes", domain=[('max_routes', '>=', 1)],
        help="How many carriers a call may fail over to. Empty: all.")
    loss_guard = fields.Boolean(
        "No Loss", help="Never route a call over a carrier that costs more "
        "than the call's price.")
    max_cost = fields.Numeric(
        "Max Cost per Minute", digits=PRICE_DIGITS)
    min_margin = fields.Numeric(
        "Min Margin per Minute", digits=PRICE_DIGITS)
    min_margin_percent = fields.Numeric(
        "Min Margin %", digits=(16, 4))
    min_asr = fields.Numeric("Min ASR %", digits=(16, 2))
    min_acd = fields.Numeric("Min ACD (s)", digits=(16, 2))
    max_pdd = fields.Numeric("Max PDD (s)", digits=(16, 2))
    min_samples = fields.Integer(
        "Min Samples", required=True,
        help="Calls a carrier needs before its quality counts.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('plan')

    @classmethod
    def default_service(cls):
        return 'voice'

    @classmethod
    def default_strategy(cls):
        return 'least-cost'

    @classmethod
    def default_min_samples(cls):
        return 20

    def get_rec_name(self, name):
        return f'{self.plan.rec_name} ({self.service})'

    @classmethod
    def validate_fields(cls, policies, field_names):
        super().validate_fields(policies, field_names)
        if field_names & {'plan', 'carriers', 'rules'}:
            for policy in policies:
                policy.check_tenant()
                for line in policy.carriers:
                    check_carrier(policy, line.carrier)
                for rule in policy.rules:
                    for line in rule.carriers:
                        check_carrier(policy, line.carrier)

    def check_tenant(self):
        "A reseller defines policies only when it controls its routing."
        company = self.plan.company
        if company.parent and not company.routing_control:
            raise RoutingPolicyError(gettext(
                    'telecom_lcr.msg_policy_no_routing_control',
                    plan=self.plan.rec_name, tenant=company.rec_name))


def check_carrier(policy, carrier):
    """Refuse a carrier of another tenant than the policy's plan; name it
    only to a user who may read it, so the error reveals nothing."""
    pool = Pool()
    Carrier = pool.get('telecom.carrier')
    if carrier.company == policy.plan.company:
        return
    with check_access():
        readable = Carrier.search([('id', '=', carrier.id)], count=True)
    name = carrier.rec_name if readable else f"#{carrier.id}"
    raise RoutingPolicyError(gettext(
            'telecom_lcr.msg_policy_carrier_tenant',
            carrier=name, plan=policy.plan.rec_name))


class PolicyCarrier(sequence_ordered(), TariffChangeMixin, ModelSQL,
        ModelView):
    "Routing Policy Carrier"
    __name__ = 'telecom.routing.policy.carrier'
    policy = fields.Many2One(
        'telecom.routing.policy', "Policy", required=True,
        ondelete='CASCADE')
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    weight = fields.Integer(
        "Weight", required=True, domain=[('weight', '>=', 0)],
        help="Share of calls for weighted load balancing.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('policy')

    @classmethod
    def default_weight(cls):
        return 1

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        for line in lines:
            check_carrier(line.policy, line.carrier)


class RoutingRule(sequence_ordered(), TariffChangeMixin, ModelSQL,
        ModelView):
    "Routing Rule"
    __name__ = 'telecom.routing.rule'
    policy = fields.Many2One(
        'telecom.routing.policy', "Policy", required=True,
        ondelete='CASCADE')
    callee_prefix = fields.Char("Called Number Prefix", strip=True)
    caller_prefix = fields.Char("Caller ID Prefix", strip=True)
    group = fields.Many2One(
        'telecom.destination.group', "Destination Group",
        ondelete='CASCADE')
    strategy = fields.Selection(
        [(None, "")] + STRATEGY_SELECTION, "Strategy",
        help="Empty: the policy's.")
    carriers = fields.One2Many(
        'telecom.routing.rule.carrier', 'rule', "Carriers")
    max_routes = fields.Integer(
        "Max Routes", domain=[('max_routes', '>=', 1)])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('policy')


class RuleCarrier(sequence_ordered(), TariffChangeMixin, ModelSQL,
        ModelView):
    "Routing Rule Carrier"
    __name__ = 'telecom.routing.rule.carrier'
    rule = fields.Many2One(
        'telecom.routing.rule', "Rule", required=True, ondelete='CASCADE')
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    weight = fields.Integer(
        "Weight", required=True, domain=[('weight', '>=', 0)])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('rule')

    @classmethod
    def default_weight(cls):
        return 1

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        for line in lines:
            check_carrier(line.rule.policy, line.carrier)
