from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, Workflow, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction, without_check_access

from .exceptions import TenancyError

FLAVOURS = [
    ('pbx', "PBX"),
    ('residential', "Residential"),
    ('wholesale', "Wholesale / trunking"),
    ]
BILLING_MODES = [
    ('prepaid', "Prepaid"),
    ('postpaid', "Postpaid"),
    ]
STATES = [
    ('active', "Active"),
    ('suspended', "Suspended"),
    ('closed', "Closed"),
    ]


class Account(Workflow, ModelSQL, ModelView):
    "A customer account: who calls, who pays, under which tenant."
    __name__ = 'telecom.account'
    _rec_name = 'code'

    code = fields.Char(
        "Code", readonly=True, strip=True,
        help="Given from the account sequence when the account is created.")
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends=['company'],
        help="Who the account belongs to and who receives its invoices.")
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            },
        help="The company (owner or reseller) that sells to this account.")
    flavour = fields.Selection(
        FLAVOURS, "Flavour", required=True,
        help="The kind of service and portal the customer gets.")
    billing_mode = fields.Selection(
        BILLING_MODES, "Billing Mode", required=True,
        help="Prepaid accounts call against their balance; "
        "postpaid accounts are invoiced after use.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True,
        help="The currency of the account's prices and balance.")
    credit_limit = fields.Numeric(
        "Credit Limit", digits=(16, 4),
        domain=[If(Eval('credit_limit'), ('credit_limit', '>=', 0), ())],
        states={
            'invisible': Eval('billing_mode') != 'postpaid',
            },
        help="How much a postpaid account may owe before calls are refused.\n"
        "Leave empty for no limit.")
    balance = fields.Numeric(
        "Balance", digits=(16, 4), readonly=True,
        help="Money on the account: top-ups and refunds less rated calls "
        "(see the balance movements).")
    balance_lines = fields.One2Many(
        'telecom.balance.line', 'account', "Balance Movements",
        readonly=True)
    state = fields.Selection(
        STATES, "State", required=True, readonly=True, sort=False)
    country = fields.Many2One(
        'country.country', "Country",
        help="Used to read national numbers the customer dials or types.")
    national_prefix = fields.Char(
        "National Prefix", strip=True,
        help="The trunk prefix of national numbers, e.g. 0 in the UK.")
    international_prefix = fields.Char(
        "International Prefix", strip=True,
        help="The prefix that starts an international number, e.g. 00.")
    group = fields.Many2One(
        'telecom.account.group', "Group", ondelete='SET NULL',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="Accounts of a group share telephony features while each is "
        "billed separately.")
    reseller = fields.Many2One(
        'company.company', "Reseller Company", ondelete='RESTRICT',
        help="Set when this account is a reseller that the tenant bills: "
        "the company of that reseller.")
    lines = fields.One2Many('telecom.line', 'account', "Lines")
    numbers = fields.One2Many('telecom.number', 'account', "Numbers")
    sip_addresses = fields.One2Many(
        'telecom.sip_address', 'account', "SIP Addresses")
    credentials = fields.One2Many(
        'telecom.credential', 'account', "Trunk Credentials")
    feature_limits = fields.One2Many(
        'telecom.account.feature_limit', 'account', "Feature Limits")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'telecom_base.msg_account_code_unique'),
            ]
        cls._transitions |= {
            ('active', 'suspended'),
            ('suspended', 'active'),
            ('active', 'closed'),
            ('suspended', 'closed'),
            }
        cls._buttons.update({
                'activate': {
                    'invisible': Eval('state') != 'suspended',
                    'depends': ['state'],
                    },
                'suspend': {
                    'invisible': Eval('state') != 'active',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'active'

    @classmethod
    def default_flavour(cls):
        return 'pbx'

    @classmethod
    def default_billing_mode(cls):
        return 'postpaid'

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_national_prefix(cls):
        return '0'

    @classmethod
    def default_international_prefix(cls):
        return '00'

    @classmethod
    def default_balance(cls):
        return Decimal(0)

    @property
    def available_credit(self):
        """What the account may still spend, or None when unlimited:
        the balance of a prepaid account; balance plus credit limit of a
        postpaid one with a limit."""
        balance = self.balance or Decimal(0)
        if self.billing_mode == 'prepaid':
            return balance
        if self.credit_limit is None:
            return None
        return balance + self.credit_limit

    @classmethod
    def copy(cls, accounts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('balance', Decimal(0))
        default.setdefault('balance_lines')
        default.setdefault('code')
        return super().copy(accounts, default=default)

    def get_rec_name(self, name):
        if self.code:
            return f'{self.code} - {self.party.rec_name}'
        return self.party.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('party.rec_name', operator, operand, *extra),
            ]

    def normalize_number(self, raw):
        "Read a number typed or dialled by this account as E.164 digits"
        from .numbering import normalize_number
        return normalize_number(
            raw, country=self.country.code if self.country else None,
            national_prefix=self.national_prefix or '',
            international_prefix=self.international_prefix or '')

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('code'):
            with without_check_access():
                sequence = Sequence(ModelData.get_id(
                        'telecom_base', 'sequence_account'))
                values['code'] = sequence.get()
        return values

    @classmethod
    def validate_fields(cls, accounts, field_names):
        super().validate_fields(accounts, field_names)
        cls.check_reseller(accounts, field_names)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for accounts, values in zip(actions, actions):
            if 'currency' in values:
                cls.check_currency_change(accounts, values['currency'])
        super().write(*args)

    @classmethod
    def check_currency_change(cls, accounts, currency_id):
        """Refuse a new currency for an account that has moved money: its
        balance and movements are amounts of the old currency, and would
        be read as the new one (12.22 USD became 12.22 EUR). Converting
        them at a rate is a sale of currency, not a setting: the customer
        keeps the account's currency, or staff open a new account."""
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        Currency = pool.get('currency.currency')
        with without_check_access():
            # Read, not the records' cache: movements are written in SQL.
            for row in cls.read([a.id for a in accounts],
                    ['currency', 'balance', 'rec_name']):
                if row['currency'] == currency_id:
                    continue
                if row['balance'] or BalanceLine.search(
                        [('account', '=', row['id'])], limit=1):
                    raise ValidationError(gettext(
                            'telecom_base.msg_account_currency_moved',
                            account=row['rec_name'],
                            currency=Currency(row['currency']).code,
                            balance=row['balance'] or 0))

    @classmethod
    def check_reseller(cls, accounts, field_names=None):
        if field_names and not (field_names & {'reseller', 'company'}):
            return
        with without_check_access():
            for account in accounts:
                if account.reseller and account.reseller.parent != (
                        account.company):
                    raise TenancyError(gettext(
                            'telecom_base.msg_account_reseller_parent',
                            account=account.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('active')
    def activate(cls, accounts):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('suspended')
    def suspend(cls, accounts):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, accounts):
        pass


class AccountGroup(ModelSQL, ModelView):
    """Accounts that share telephony features (F6): their users can call
    each other's extensions and PBX features, while each account is billed
    on its own."""
    __name__ = 'telecom.account.group'
    name = fields.Char("Name", required=True)
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    accounts = fields.One2Many(
        'telecom.account', 'group', "Accounts",
        add_remove=[('company', '=', Eval('company', -1))],
        domain=[('company', '=', Eval('company', -1))])
    extension_dialling = fields.Boolean(
        "Extension Dialling",
        help="Members dial each other by extension, as if on one PBX.")
    shared_features = fields.Text(
        "Shared Features",
        help="The features the members share (departments, hunt groups, "
        "pick-up groups…), as configured on the switch.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_extension_dialling(cls):
        return True

    def shares_with(self, account):
        return account.group == self
