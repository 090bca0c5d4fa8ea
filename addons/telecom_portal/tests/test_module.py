from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_tenancy)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

ADDRESS = {'street': "1 Harbour Road", 'city': "Bristol"}


def create_country():
    Country = Pool().get('country.country')
    country, = Country.create([{'name': "United Kingdom", 'code': 'GB'}])
    return country


def run_wizard(name, data, active_company):
    """Run wizard ``name`` as a client does: create, execute its start
    form ``data`` with the company of the user's context; return the
    action it opens. As over RPC, its steps run without access checks:
    the wizard's own (and the wall's) are what is tested."""
    Wizard = Pool().get(name, type='wizard')
    with Transaction().set_context(
            company=active_company.id, _check_access=False):
        session_id, _, _ = Wizard.create()
        result = Wizard.execute(session_id, {'start': data}, 'create_')
        Wizard.delete(session_id)
    return result


class TelecomPortalTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_portal module"
    module = 'telecom_portal'
    # The company a portal log-in administers, not the log-in's tenant:
    # web users are managed by the owner's staff (web_user's groups).
    _telecom_not_tenant = TelecomCompanyTestMixin._telecom_not_tenant | {
        ('web.user', 'reseller'),
        }

    def reseller_data(self, parent, country, **values):
        return {'parent': parent.id, 'name': "Delta Voice",
            **ADDRESS, 'country': country.id,
            'currency': parent.currency.id, 'timezone': 'Europe/London',
            'billing_mode': 'postpaid', 'books': False,
            'login': 'delta', 'user_name': "Dora Delta",
            'password': 'delta-Secret-Passw0rd', 'brand': "Delta Voice",
            'portal_email': 'dora@delta.example',
            'portal_password': 'delta-Portal-Passw0rd', **values}

    @with_transaction()
    def test_onboard_reseller(self):
        """Onboard Reseller: the company under its seller, its account on
        the seller, its administrator, portal log-in and brand"""
        pool = Pool()
        Company = pool.get('company.company')
        Account = pool.get('telecom.account')
        User = pool.get('res.user')
        WebUser = pool.get('web.user')
        Brand = pool.get('telecom.brand')
        ModelData = pool.get('ir.model.data')
        t = create_tenancy()
        country = create_country()

        result = run_wizard('telecom.reseller.onboard',
            self.reseller_data(t.r1, country), t.owner)

        company, = Company.search([('party.name', '=', "Delta Voice")])
        self.assertEqual(company.parent, t.r1)
        account, = Account.search([('reseller', '=', company.id)])
        self.assertEqual((account.company, account.flavour,
                account.billing_mode), (t.r1, 'wholesale', 'postpaid'))
        # Its invoices need the address.
        self.assertEqual(account.party.address_get(type='invoice').city,
            "Bristol")
        user, = User.search([('login', '=', 'delta')])
        self.assertEqual(list(user.companies), [company])
        self.assertEqual([r.role.id for r in user.roles], [ModelData.get_id(
                    'telecom_base', 'role_reseller_admin')])
        web_user, = WebUser.search([('email', '=', 'dora@delta.example')])
        self.assertEqual(web_user.reseller, company)
        brand, = Brand.search([('company', '=', company.id)])
        self.assertEqual((brand.name, brand.default), ("Delta Voice", True))
        # It opens the reseller's account.
        self.assertEqual(result['actions'][0][1]['res_id'], [account.id])

    @with_transaction()
    def test_onboard_reseller_refused(self):
        """A taken log-in, or a seller outside the user's subtree, is
        refused and creates nothing"""
        pool = Pool()
        Company = pool.get('company.company')
        t = create_tenancy()
        country = create_country()
        companies = Company.search([], count=True)
        with self.assertRaisesRegex(UserError, 'log-in "r1admin" is taken'):
            run_wizard('telecom.reseller.onboard',
                self.reseller_data(t.owner, country, login='r1admin'),
                t.owner)
        # Reseller One's staff cannot onboard under Reseller Three.
        with as_user(t.r1_user, t.r1):
            with self.assertRaises(AccessError):
                run_wizard('telecom.reseller.onboard',
                    self.reseller_data(t.r3, country), t.r1)
        self.assertEqual(Company.search([], count=True), companies)

    @with_transaction()
    def test_new_customer(self):
        """New Customer: account, invoice address, a line with its SIP
        credential and a portal log-in, in one go"""
        pool = Pool()
        Account = pool.get('telecom.account')
        WebUser = pool.get('web.user')
        t = create_tenancy()
        country = create_country()

        with as_user(t.r1_user, t.r1):
            run_wizard('telecom.customer.create', {
                    'company': t.r2.id, 'name': "Harbour Bakery",
                    'email': 'bakery@example.com',
                    **ADDRESS, 'country': country.id,
                    'flavour': 'residential', 'billing_mode': 'prepaid',
                    'currency': t.currency.id, 'line': "Shop",
                    'extension': '100', 'sip_username': 'bakery-shop',
                    'sip_password': 'Bakery-Sip-2026',
                    'realm': 'sip.example.net',
                    'portal_email': 'bakery@example.com',
                    'portal_password': 'Bakery-Portal-2026',
                    }, t.r1)

        account, = Account.search([('party.name', '=', "Harbour Bakery")])
        self.assertEqual((account.company, account.billing_mode),
            (t.r2, 'prepaid'))
        self.assertEqual(account.party.address_get(type='invoice').street,
            "1 Harbour Road")
        line, = account.lines
        self.assertEqual((line.name, line.extension), ("Shop", '100'))
        credential, = account.credentials
        self.assertEqual((credential.kind, credential.username,
                credential.line), ('sip', 'bakery-shop', line))
        self.assertTrue(credential.ha1)
        web_user, = WebUser.search([('email', '=', 'bakery@example.com')])
        self.assertEqual(web_user.telecom_account, account)


del ModuleTestCase
