"""Carriers, their gateways and their buying-price decks (F17, F18)."""
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.pool import Pool
from trytond.transaction import Transaction

from trytond.modules.telecom_rating.plan import (
    SERVICES, RateMixin, TariffChangeMixin)

from .engine.model import TRANSPORTS


class Carrier(TariffChangeMixin, ModelSQL, ModelView):
    """Carrier

    A company that terminates calls, bought by a tenant (usually the
    owner). Its rates are its buying prices, in its currency."""
    __name__ = 'telecom.carrier'
    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True, strip=True,
        help="Short name written on CDRs and in statistics.")
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        help="The tenant that buys from the carrier.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True)
    state = fields.Selection([
            ('active', "Active"),
            ('disabled', "Disabled"),
            ], "State", required=True)
    gateways = fields.One2Many(
        'telecom.carrier.gateway', 'carrier', "Gateways")
    tech_prefix = fields.Char(
        "Tech Prefix", strip=True,
        help="Digits the carrier wants in front of the number.")
    strip_digits = fields.Integer(
        "Strip Digits", required=True, domain=[('strip_digits', '>=', 0)],
        help="Leading digits of the number to drop for this carrier.")
    add_prefix = fields.Char(
        "Add Prefix", strip=True,
        help="Digits to put in front of the number after stripping.")
    rewrite_pattern = fields.Char(
        "Rewrite Pattern",
        help="A regular expression applied to the number (first match).")
    rewrite_replacement = fields.Char("Rewrite Replacement")
    max_calls = fields.Integer(
        "Max Calls", domain=[('max_calls', '>=', 0)],
        help="Concurrent calls the carrier takes. Empty: no cap.")
    calls_per_second = fields.Integer(
        "Calls per Second", domain=[('calls_per_second', '>=', 0)])
    allowed_accounts = fields.Many2Many(
        'telecom.carrier-telecom.account', 'carrier', 'account',
        "Allowed Accounts",
        help="Only these customers may use the carrier (with the allowed "
        "plans). Empty: everyone.")
    allowed_plans = fields.Many2Many(
        'telecom.carrier-telecom.rate.plan', 'carrier', 'plan',
        "Allowed Plans")
    rates = fields.One2Many('telecom.carrier.rate', 'carrier', "Rates")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'telecom_lcr.msg_carrier_code_unique'),
            ]
        cls._order = [('name', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_state(cls):
        return 'active'

    @classmethod
    def default_strip_digits(cls):
        return 0


class Gateway(sequence_ordered(), TariffChangeMixin, ModelSQL, ModelView):
    "Carrier Gateway"
    __name__ = 'telecom.carrier.gateway'
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    address = fields.Char(
        "Address", required=True, strip=True,
        help="A SIP host (gw.example.net:5060) or an Asterisk dialstring "
        "with {number} (PJSIP/{number}@carrier).")
    transport = fields.Selection(
        [(t, t.upper()) for t in TRANSPORTS], "Transport", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('carrier')

    @classmethod
    def default_transport(cls):
        return 'udp'


class CarrierAccount(TariffChangeMixin, ModelSQL):
    "Carrier - Account"
    __name__ = 'telecom.carrier-telecom.account'
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')


class CarrierPlan(TariffChangeMixin, ModelSQL):
    "Carrier - Rate Plan"
    __name__ = 'telecom.carrier-telecom.rate.plan'
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='CASCADE')


class CarrierRate(RateMixin, TariffChangeMixin, ModelSQL, ModelView):
    "Carrier Rate"
    __name__ = 'telecom.carrier.rate'
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, ondelete='CASCADE')
    service = fields.Selection(SERVICES, "Service", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('carrier')
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.carrier, Index.Range()), (t.prefix, Index.Equality())))

    @classmethod
    def default_service(cls):
        return 'voice'
