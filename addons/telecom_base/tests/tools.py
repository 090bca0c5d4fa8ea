"""Fixtures shared by the telecom modules' tests.

``create_tenancy()`` builds the chain used throughout the suite's tests:

    Owner Telecom (owner)
    ├── Reseller One            (reseller of the owner)
    │   └── Sub Reseller Two    (reseller of Reseller One)
    └── Reseller Three          (another reseller of the owner)

with one customer account in each tenant, the resellers' own accounts in
their parent's tenant, and a back-office user per reseller.
"""
from contextlib import contextmanager
from types import SimpleNamespace

from trytond.modules.company.tests import CompanyTestMixin, create_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.pool import Pool
from trytond.tests import test_tryton
from trytond.transaction import Transaction


def create_reseller(name, parent, currency):
    pool = Pool()
    Company = pool.get('company.company')
    Party = pool.get('party.party')
    with Transaction().set_context(company=parent.id):
        party, = Party.create([{'name': name}])
    company, = Company.create([{
                'party': party.id, 'currency': currency.id,
                'parent': parent.id}])
    return company


def create_customer(name, company, **values):
    pool = Pool()
    Party = pool.get('party.party')
    Account = pool.get('telecom.account')
    with Transaction().set_context(company=company.id):
        party, = Party.create([{'name': name}])
        values.setdefault('currency', company.currency.id)
        account, = Account.create([{
                    'party': party.id, 'company': company.id, **values}])
    return account


def create_user(login, company, groups=('telecom_base.group_telecom',)):
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    group_ids = [ModelData.get_id(*g.split('.')) for g in groups]
    user, = User.create([{
                'name': login.title(), 'login': login,
                'password': f'{login}-Secret-Passw0rd',
                'companies': [('add', [company.id])],
                'company': company.id,
                'groups': [('add', group_ids)],
                }])
    return user


def create_tenancy():
    pool = Pool()
    Account = pool.get('telecom.account')
    User = pool.get('res.user')

    currency = create_currency('EUR')
    add_currency_rate(currency, 1)
    owner = create_company("Owner Telecom", currency)
    # The test user (admin) works for the owner.
    User.write([User(Transaction().user)], {
            'companies': [('add', [owner.id])], 'company': owner.id})

    r1 = create_reseller("Reseller One", owner, currency)
    r2 = create_reseller("Sub Reseller Two", r1, currency)
    r3 = create_reseller("Reseller Three", owner, currency)
    # The resellers' own accounts, billed by their parent.
    r1_account = create_customer("Reseller One", owner, flavour='wholesale')
    Account.write([r1_account], {'reseller': r1.id})

    t = SimpleNamespace(
        currency=currency, owner=owner, r1=r1, r2=r2, r3=r3,
        r1_account=r1_account)
    t.owner_customer = create_customer("Owner Customer", owner)
    t.r1_customer = create_customer("R1 Customer", r1)
    t.r2_customer = create_customer(
        "R2 Customer", r2, flavour='residential', billing_mode='prepaid')
    t.r3_customer = create_customer("R3 Customer", r3, flavour='wholesale')
    t.r1_user = create_user('r1admin', r1)
    t.r2_user = create_user('r2admin', r2)
    return t


@contextmanager
def as_user(user, company=None):
    """Act as a back-office user with access checks on, as over RPC"""
    pool = Pool()
    User = pool.get('res.user')
    transaction = Transaction()
    context = {'_check_access': True}
    if company is not None:
        context['company'] = company.id
    User._get_companies_cache.clear()
    with transaction.set_user(user.id), transaction.set_context(context):
        yield


class DatabaseTestCase(test_tryton.TestCase):
    """A fresh database with ``module`` (and ``extras``) activated, without
    the generic checks of ModuleTestCase: each module's test_module.py
    runs those once."""
    module = None
    extras = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        test_tryton.drop_db()
        test_tryton.activate_module([cls.module, *cls.extras])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        test_tryton.drop_db()


class TelecomCompanyTestMixin(CompanyTestMixin):
    """Tryton's company checks, knowing the suite's tenancy fields.

    These Many2One to company.company are not a record's tenant but a
    relation to another company (or, for the party, who may see it); the
    rules of their models are their own and proved by isolation tests.
    """
    _telecom_not_tenant = {
        ('party.party', 'tenant'),
        ('company.company', 'parent'),
        ('telecom.account', 'reseller'),
        ('telecom.cdr.charge', 'seller'),
        ('telecom.cdr.charge', 'buyer'),
        }

    @property
    def _skip_company_rule(self):
        return super()._skip_company_rule | self._telecom_not_tenant

    def test_company_multivalue_context(self):
        # The mixin takes the first Many2One to company.company as the
        # company of multi-values; on parties that is "tenant" (who may
        # see the party), not the company of its properties, which stays
        # driven by the user's company context.
        pass
