"""Onboarding in one go (issue 17): *Onboard Reseller* and *New Customer*.

Each asks on one form what the scattered screens would ask in turn and
creates it all in one transaction — everything or nothing. Both run for
the tenant the user works in (or one of its sub-resellers): the wizard
reads the tenant, plan and country chosen with the user's rules
(telecom_base's wall, on every step), so a reseller onboards under its
own subtree only.
"""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from .exceptions import OnboardingError

# The colours of a new brand until the reseller chooses its own.
PRIMARY, SECONDARY = '#1f4e79', '#f2a900'


def _tenant_default():
    return Transaction().context.get('company')


class OnboardingWizard(Wizard):
    """What both wizards share: the tenant of the user's context as the
    form's tenant (``_tenant_field``), and the created account opened at
    the end"""
    _tenant_field = 'company'
    create_ = StateTransition()
    open_ = StateAction('telecom_base.act_account')

    def default_start(self, fields):
        Company = Pool().get('company.company')
        tenant = _tenant_default()
        if not tenant:
            return {}
        tenant = Company(tenant)
        values = {self._tenant_field: tenant.id,
            'currency': tenant.currency.id, 'timezone': tenant.timezone}
        return {k: v for k, v in values.items() if k in fields}

    def do_open_(self, action):
        return action, {'res_id': [self.start.account.id]}

    @staticmethod
    def buttons():
        return [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Create", 'create_', 'tryton-ok', default=True),
            ]


class AddressMixin:
    "What an invoice needs of a customer: where to send it"
    __slots__ = ()
    street = fields.Char("Street", required=True)
    postal_code = fields.Char("Postal Code")
    city = fields.Char("City", required=True)
    country = fields.Many2One('country.country', "Country", required=True)

    def address_values(self):
        return {
            'street': self.street, 'postal_code': self.postal_code,
            'city': self.city, 'country': self.country.id,
            'invoice': True,
            }


class PortalMixin:
    "A portal log-in: e-mail and password, both or neither"
    __slots__ = ()
    portal_email = fields.Char(
        "Portal E-mail",
        help="The e-mail to log in to the portal with; empty for none.")
    portal_password = fields.Char(
        "Portal Password",
        states={
            'required': Eval('portal_email', '') != '',
            })

    def portal_values(self):
        if not self.portal_email:
            return None
        return {'email': self.portal_email.strip(),
            'password': self.portal_password}


class OnboardResellerStart(AddressMixin, PortalMixin, ModelView):
    "Onboard Reseller"
    __name__ = 'telecom.reseller.onboard.start'
    parent = fields.Many2One(
        'company.company', "Sold By", required=True,
        help="The tenant that sells to the reseller and invoices it: yours "
        "or one of your sub-resellers.")
    name = fields.Char("Reseller", required=True)
    currency = fields.Many2One('currency.currency', "Currency", required=True)
    timezone = fields.Char("Time Zone", required=True)
    billing_mode = fields.Selection([
            ('postpaid', "Postpaid"),
            ('prepaid', "Prepaid"),
            ], "Billing Mode", required=True,
        help="How the parent bills the reseller's account.")
    plan = fields.Many2One(
        'telecom.rate.plan', "Rate Plan",
        domain=[('company', '=', Eval('parent', -1))],
        help="The parent's plan the reseller buys its calls on.")
    books = fields.Boolean(
        "Set Up Books",
        help="A chart of accounts, fiscal years, a 20 % VAT and the prepaid "
        "accounts, as the reseller needs to invoice its customers.")
    login = fields.Char("Back-Office Log-in", required=True)
    user_name = fields.Char("User Name", required=True)
    password = fields.Char("Password", required=True)
    account = fields.Many2One('telecom.account', "Account", readonly=True)
    brand = fields.Char(
        "Brand", required=True,
        help="The name the reseller's customers see on the portal and "
        "their invoices.")

    @classmethod
    def default_parent(cls):
        return _tenant_default()

    @classmethod
    def default_billing_mode(cls):
        return 'postpaid'

    @classmethod
    def default_books(cls):
        return True

    @fields.depends('parent', 'currency', 'timezone')
    def on_change_parent(self):
        if self.parent:
            self.currency = self.currency or self.parent.currency
            self.timezone = self.timezone or self.parent.timezone

    @fields.depends('name', 'brand')
    def on_change_name(self):
        if self.name and not self.brand:
            self.brand = self.name


class OnboardReseller(OnboardingWizard):
    """Onboard Reseller: its company under the seller, its account on the
    seller (opened at the end: where it is billed), books, a back-office
    administrator, a portal log-in and a brand"""
    __name__ = 'telecom.reseller.onboard'
    _tenant_field = 'parent'
    start = StateView('telecom.reseller.onboard.start',
        'telecom_portal.reseller_onboard_start_view_form',
        OnboardingWizard.buttons())

    def transition_create_(self):
        pool = Pool()
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        Account = pool.get('telecom.account')
        User = pool.get('res.user')
        WebUser = pool.get('web.user')
        Brand = pool.get('telecom.brand')
        ModelData = pool.get('ir.model.data')
        from trytond.modules.telecom_base.demo import set_up_books
        start = self.start
        parent = start.parent
        check_plan(start.plan, parent)
        if User.search([('login', '=', start.login)]):
            raise OnboardingError(gettext(
                    'telecom_portal.msg_onboard_login_taken',
                    login=start.login))
        portal = start.portal_values()
        check_portal_email(portal)
        with Transaction().set_context(company=parent.id):
            party, = Party.create([{
                        'name': start.name,
                        'addresses': [('create', [start.address_values()])],
                        }])
        company, = Company.create([{
                    'party': party.id, 'parent': parent.id,
                    'currency': start.currency.id,
                    'timezone': start.timezone,
                    }])
        account, = Account.create([{
                    'party': party.id, 'company': parent.id,
                    'flavour': 'wholesale',
                    'billing_mode': start.billing_mode,
                    'currency': start.currency.id,
                    'country': start.country.id,
                    'reseller': company.id,
                    'rate_plans': [('add', [start.plan.id])]
                    if start.plan else [],
                    }])
        if start.books:
            set_up_books(pool, company)
        User.create([{
                    'login': start.login, 'name': start.user_name,
                    'password': start.password,
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'roles': [('create', [{'role': ModelData.get_id(
                                        'telecom_base',
                                        'role_reseller_admin')}])],
                    }])
        if portal:
            WebUser.create([{**portal, 'reseller': company.id}])
        Brand.create([{
                    'name': start.brand, 'company': company.id,
                    'default': True,
                    'primary_colour': PRIMARY, 'secondary_colour': SECONDARY,
                    }])
        self.start.account = account
        return 'open_'


class CreateCustomerStart(AddressMixin, PortalMixin, ModelView):
    "New Customer"
    __name__ = 'telecom.customer.create.start'
    company = fields.Many2One(
        'company.company', "Tenant", required=True,
        help="Who sells to the customer: yours or one of your "
        "sub-resellers.")
    name = fields.Char("Customer", required=True)
    email = fields.Char(
        "E-mail", help="Where invoices and notices are sent.")
    flavour = fields.Selection(
        'get_flavours', "Flavour", required=True)
    billing_mode = fields.Selection(
        'get_billing_modes', "Billing Mode", required=True)
    currency = fields.Many2One('currency.currency', "Currency", required=True)
    plan = fields.Many2One(
        'telecom.rate.plan', "Rate Plan",
        domain=[('company', '=', Eval('company', -1))])
    line = fields.Char(
        "Line", required=True, help="The name of the customer's first line.")
    extension = fields.Char("Extension")
    sip_username = fields.Char(
        "SIP Username", required=True,
        help="What the line's phone registers with.")
    sip_password = fields.Char("SIP Password", required=True)
    realm = fields.Char(
        "Realm", required=True, help="The domain of the SIP proxy.")
    account = fields.Many2One('telecom.account', "Account", readonly=True)

    @classmethod
    def get_flavours(cls):
        return Pool().get('telecom.account').fields_get(
            ['flavour'])['flavour']['selection']

    @classmethod
    def get_billing_modes(cls):
        return Pool().get('telecom.account').fields_get(
            ['billing_mode'])['billing_mode']['selection']

    @classmethod
    def default_company(cls):
        return _tenant_default()

    @classmethod
    def default_flavour(cls):
        return 'residential'

    @classmethod
    def default_billing_mode(cls):
        return 'prepaid'

    @classmethod
    def default_line(cls):
        return "Line 1"

    @fields.depends('company', 'currency')
    def on_change_company(self):
        if self.company and not self.currency:
            self.currency = self.company.currency


class CreateCustomer(OnboardingWizard):
    """New Customer: its account with a line, the line's SIP credential and
    a portal log-in"""
    __name__ = 'telecom.customer.create'
    start = StateView('telecom.customer.create.start',
        'telecom_portal.customer_create_start_view_form',
        OnboardingWizard.buttons())

    def transition_create_(self):
        pool = Pool()
        Party = pool.get('party.party')
        Account = pool.get('telecom.account')
        Line = pool.get('telecom.line')
        Credential = pool.get('telecom.credential')
        WebUser = pool.get('web.user')
        start = self.start
        check_plan(start.plan, start.company)
        portal = start.portal_values()
        check_portal_email(portal)
        mechanisms = ([('create', [{'type': 'email', 'value': start.email}])]
            if start.email else [])
        with Transaction().set_context(company=start.company.id):
            party, = Party.create([{
                        'name': start.name,
                        'addresses': [('create', [start.address_values()])],
                        'contact_mechanisms': mechanisms,
                        }])
            account, = Account.create([{
                        'party': party.id, 'company': start.company.id,
                        'flavour': start.flavour,
                        'billing_mode': start.billing_mode,
                        'currency': start.currency.id,
                        'country': start.country.id,
                        'rate_plans': [('add', [start.plan.id])]
                        if start.plan else [],
                        }])
            line, = Line.create([{
                        'account': account.id, 'name': start.line,
                        'extension': start.extension,
                        }])
            Credential.create([{
                        'account': account.id, 'kind': 'sip',
                        'line': line.id, 'username': start.sip_username,
                        'realm': start.realm,
                        'password': start.sip_password,
                        }])
        if portal:
            WebUser.create([{**portal, 'telecom_account': account.id}])
        self.start.account = account
        return 'open_'


def check_plan(plan, tenant):
    "A plan sold by another tenant cannot be chosen (the field's domain)"
    if plan and plan.company != tenant:
        raise OnboardingError(gettext(
                'telecom_portal.msg_onboard_plan_tenant',
                plan=plan.rec_name, tenant=tenant.rec_name))


def check_portal_email(portal):
    "One portal log-in per e-mail address"
    WebUser = Pool().get('web.user')
    if portal and WebUser.search([('email', '=', portal['email'])]):
        raise OnboardingError(gettext(
                'telecom_portal.msg_onboard_email_taken',
                email=portal['email']))
