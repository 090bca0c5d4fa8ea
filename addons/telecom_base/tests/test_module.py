import hashlib
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from .tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy,
    create_user)


def names(records):
    return sorted(r.party.name for r in records)


class TelecomBaseTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_base module"
    module = 'telecom_base'

    # --- Isolation (F2) through the ORM with access checks on ------------

    @with_transaction()
    def test_reseller_sees_its_subtree_of_accounts(self):
        "A reseller sees its customers and its sub-resellers', no others"
        pool = Pool()
        Account = pool.get('telecom.account')
        t = create_tenancy()

        with as_user(t.r1_user):
            self.assertEqual(
                names(Account.search([])), ["R1 Customer", "R2 Customer"])
            self.assertEqual(Account.search([], count=True), 2)
            self.assertEqual(
                sorted(r['code'] for r in Account.search_read(
                        [], fields_names=['code'])),
                sorted([t.r1_customer.code, t.r2_customer.code]))
            with self.assertRaises(AccessError):
                Account.read([t.owner_customer.id], ['code'])
            with self.assertRaises(AccessError):
                Account.read([t.r3_customer.id], ['code'])
            # The reseller's own account lives in the owner's tenant.
            with self.assertRaises(AccessError):
                Account.read([t.r1_account.id], ['code'])

    @with_transaction()
    def test_sub_reseller_cannot_see_parent_customers(self):
        "A sub-reseller sees only its own customers"
        pool = Pool()
        Account = pool.get('telecom.account')
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        t = create_tenancy()

        with as_user(t.r2_user):
            self.assertEqual(names(Account.search([])), ["R2 Customer"])
            self.assertEqual(
                sorted(p.name for p in Party.search([])),
                ["R2 Customer", "Sub Reseller Two"])
            self.assertEqual(
                [c.id for c in Company.search([])], [t.r2.id])
            with self.assertRaises(AccessError):
                Account.read([t.r1_customer.id], ['code'])
            with self.assertRaises(AccessError):
                Party.read([t.r1_customer.party.id], ['name'])

    @with_transaction()
    def test_reseller_parties_and_companies(self):
        "A reseller sees parties and companies of its subtree only"
        pool = Pool()
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        t = create_tenancy()

        with as_user(t.r1_user):
            self.assertEqual(
                sorted(p.name for p in Party.search([])),
                ["R1 Customer", "R2 Customer", "Reseller One",
                    "Sub Reseller Two"])
            self.assertEqual(
                sorted(c.id for c in Company.search([])),
                sorted([t.r1.id, t.r2.id]))
            with self.assertRaises(AccessError):
                Party.read([t.owner.party.id], ['name'])
            with self.assertRaises(AccessError):
                Company.read([t.owner.id], ['party'])

    @with_transaction()
    def test_reseller_cannot_read_its_parent(self):
        "Nothing a reseller reads names or points to its parent (F2)"
        pool = Pool()
        Company = pool.get('company.company')
        t = create_tenancy()

        with as_user(t.r1_user):
            with self.assertRaises(AccessError):
                Company.read([t.r1.id], ['parent'])
            view = Company.fields_view_get(view_type='form')
            self.assertNotIn('parent', view['fields'])
            self.assertNotIn('"parent"', view['arch'])
        with as_user(t.r2_user):
            # A sub-reseller cannot tell whether it buys from the owner or
            # from a reseller: both are hidden the same way.
            with self.assertRaises(AccessError):
                Company.read([t.r2.id], ['parent'])

    @with_transaction()
    def test_reseller_services_isolated(self):
        "Services follow their account's tenant"
        pool = Pool()
        Number = pool.get('telecom.number')
        Line = pool.get('telecom.line')
        t = create_tenancy()
        numbers = Number.create([
                {'account': t.owner_customer.id, 'number': '+442071230001'},
                {'account': t.r1_customer.id, 'number': '+442071230002'},
                {'account': t.r2_customer.id, 'number': '+442071230003'},
                {'account': t.r3_customer.id, 'number': '+442071230004'},
                ])
        Line.create([
                {'account': t.owner_customer.id, 'name': "Owner line"},
                {'account': t.r2_customer.id, 'name': "R2 line"},
                ])

        with as_user(t.r1_user):
            self.assertEqual(
                sorted(n.number for n in Number.search([])),
                ['442071230002', '442071230003'])
            self.assertEqual([l.name for l in Line.search([])], ["R2 line"])
            with self.assertRaises(AccessError):
                Number.read([numbers[0].id], ['number'])

    @with_transaction()
    def test_reseller_cannot_create_in_parent_tenant(self):
        "A reseller cannot create an account in its parent's tenant"
        pool = Pool()
        Account = pool.get('telecom.account')
        Party = pool.get('party.party')
        t = create_tenancy()

        with as_user(t.r1_user, company=t.r1):
            party, = Party.create([{'name': "New"}])
            self.assertEqual(party.tenant, t.r1)
            with self.assertRaises(AccessError):
                Account.create([{
                            'party': party.id, 'company': t.owner.id,
                            'currency': t.currency.id}])

    # --- Bad input -------------------------------------------------------

    @with_transaction()
    def test_number_normalised(self):
        "Numbers typed in any usual form are stored as E.164 digits"
        pool = Pool()
        Number = pool.get('telecom.number')
        Country = pool.get('country.country')
        t = create_tenancy()
        gb, = Country.create([{'name': "United Kingdom", 'code': 'GB'}])
        account = create_customer("UK", t.owner, country=gb.id)

        numbers = Number.create([
                {'account': account.id, 'number': '+44 20 7123 4567'},
                {'account': account.id, 'number': '0044 20 7123 4568'},
                {'account': account.id, 'number': '020 7123 4569'},
                ])
        self.assertEqual(
            [n.number for n in numbers],
            ['442071234567', '442071234568', '442071234569'])

    @with_transaction()
    def test_malformed_number_refused(self):
        "A malformed E.164 number is refused naming the field"
        pool = Pool()
        Number = pool.get('telecom.number')
        t = create_tenancy()

        for raw in ['12ab34', '+1 23', '+999 1234567']:
            with self.subTest(raw=raw):
                with self.assertRaisesRegex(UserError, 'Number'):
                    Number.create([{
                                'account': t.owner_customer.id,
                                'number': raw}])

    @with_transaction()
    def test_duplicate_number_names_visible_account(self):
        "A number held in the same tenant names the holder"
        pool = Pool()
        Number = pool.get('telecom.number')
        t = create_tenancy()
        Number.create([{
                    'account': t.r1_customer.id, 'number': '+33142000001'}])
        other = create_customer("R1 Other", t.r1)

        with as_user(t.r1_user, company=t.r1):
            with self.assertRaisesRegex(
                    UserError, rf'33142000001.*{t.r1_customer.code}'):
                Number.create([{
                            'account': other.id,
                            'number': '0033142000001'}])

    @with_transaction()
    def test_duplicate_number_hides_other_tenant(self):
        "A number held by another tenant is refused without naming it"
        pool = Pool()
        Number = pool.get('telecom.number')
        t = create_tenancy()
        Number.create([{
                    'account': t.r3_customer.id, 'number': '+33142000001'}])

        with as_user(t.r1_user, company=t.r1):
            with self.assertRaises(UserError) as cm:
                Number.create([{
                            'account': t.r1_customer.id,
                            'number': '+33 1 42 00 00 01'}])
        message = cm.exception.message
        self.assertIn("another customer of the platform", message)
        self.assertNotIn(t.r3_customer.code, message)
        self.assertNotIn("R3", message)

    @with_transaction()
    def test_duplicate_sip_address_refused(self):
        "SIP addresses are unique whatever their case"
        pool = Pool()
        SipAddress = pool.get('telecom.sip_address')
        t = create_tenancy()
        address, = SipAddress.create([{
                    'account': t.r1_customer.id,
                    'address': 'sip:Alice@Example.com'}])
        self.assertEqual(address.address, 'alice@example.com')

        with self.assertRaisesRegex(UserError, 'SIP|Address'):
            SipAddress.create([{
                        'account': t.r2_customer.id,
                        'address': 'alice@EXAMPLE.com'}])
        with self.assertRaisesRegex(UserError, 'Address.*user@domain'):
            SipAddress.create([{
                        'account': t.r2_customer.id,
                        'address': 'alice.example.com'}])

    @with_transaction()
    def test_duplicate_sip_username_refused(self):
        "Two accounts cannot share a SIP username"
        pool = Pool()
        Credential = pool.get('telecom.credential')
        t = create_tenancy()
        credential, = Credential.create([{
                    'account': t.r1_customer.id, 'kind': 'sip',
                    'username': 'trunk1', 'realm': 'sip.example.com',
                    'password': 'S3cret!'}])
        # The password is kept only as the digest HA1 that Kamailio checks:
        # md5("trunk1:sip.example.com:S3cret!")
        self.assertEqual(
            credential.ha1,
            hashlib.md5(b'trunk1:sip.example.com:S3cret!').hexdigest())
        self.assertIsNone(Credential.read(
                [credential.id], ['password'])[0]['password'])

        with self.assertRaisesRegex(UserError, 'SIP Username.*trunk1'):
            Credential.create([{
                        'account': t.r3_customer.id, 'kind': 'sip',
                        'username': 'trunk1', 'realm': 'sip.example.com'}])

    @with_transaction()
    def test_overlapping_networks_refused(self):
        "IP ranges of two accounts never overlap"
        pool = Pool()
        Credential = pool.get('telecom.credential')
        t = create_tenancy()
        credential, = Credential.create([{
                    'account': t.r1_customer.id, 'kind': 'ip',
                    'network': '192.0.2.0/28'}])
        self.assertEqual(credential.claim, '192.0.2.0/28')

        for network in ['192.0.2.5', '192.0.2.0/24', '192.0.0.0/16']:
            with self.subTest(network=network):
                with self.assertRaisesRegex(UserError, 'IP Network'):
                    Credential.create([{
                                'account': t.r3_customer.id, 'kind': 'ip',
                                'network': network}])
        # Next to it is fine.
        Credential.create([{
                    'account': t.r3_customer.id, 'kind': 'ip',
                    'network': '192.0.2.16/28'}])
        with self.assertRaisesRegex(UserError, 'IP Network.*not an IP'):
            Credential.create([{
                        'account': t.r3_customer.id, 'kind': 'ip',
                        'network': '192.0.2.300'}])

    @with_transaction()
    def test_overlapping_tech_prefixes_refused(self):
        "A tech prefix may not start another account's prefix"
        pool = Pool()
        Credential = pool.get('telecom.credential')
        t = create_tenancy()
        Credential.create([{
                    'account': t.r1_customer.id, 'kind': 'prefix',
                    'tech_prefix': '4711'}])
        for prefix in ['4711', '47', '471199']:
            with self.subTest(prefix=prefix):
                with self.assertRaisesRegex(UserError, 'Tech Prefix'):
                    Credential.create([{
                                'account': t.r2_customer.id,
                                'kind': 'prefix', 'tech_prefix': prefix}])
        Credential.create([{
                    'account': t.r2_customer.id, 'kind': 'prefix',
                    'tech_prefix': '4712'}])

    @with_transaction()
    def test_feature_limit_refuses_extra_service(self):
        "Adding a line past the maximum is refused (F15)"
        pool = Pool()
        Line = pool.get('telecom.line')
        Limit = pool.get('telecom.account.feature_limit')
        ModelData = pool.get('ir.model.data')
        t = create_tenancy()
        lines_feature = ModelData.get_id('telecom_base', 'feature_lines')
        limit, = Limit.create([{
                    'account': t.r1_customer.id, 'feature': lines_feature,
                    'maximum': 2, 'included': 1}])
        Line.create([
                {'account': t.r1_customer.id, 'name': "L1"},
                {'account': t.r1_customer.id, 'name': "L2"},
                ])
        self.assertEqual(limit.used, 2)
        self.assertEqual(limit.extra, 1)

        with self.assertRaisesRegex(
                UserError, r'at most 2 of feature "Lines" but would have 3'):
            Line.create([{'account': t.r1_customer.id, 'name': "L3"}])
        # Lowering the maximum below what is used is refused too.
        with self.assertRaisesRegex(UserError, 'at most 1'):
            Limit.write([limit], {'maximum': 1})

    @with_transaction()
    def test_extension_unique_per_account(self):
        "Two lines of one account cannot share an extension"
        pool = Pool()
        Line = pool.get('telecom.line')
        t = create_tenancy()
        Line.create([
                {'account': t.r1_customer.id, 'name': "A", 'extension': '201'},
                {'account': t.r2_customer.id, 'name': "B", 'extension': '201'},
                ])
        with self.assertRaisesRegex(UserError, 'Extension "201"'):
            Line.create([{
                        'account': t.r1_customer.id, 'name': "C",
                        'extension': '201'}])

    @with_transaction()
    def test_account_workflow(self):
        "Accounts are suspended, re-activated and closed for good"
        pool = Pool()
        Account = pool.get('telecom.account')
        t = create_tenancy()
        account = t.r1_customer
        self.assertTrue(account.code.startswith('A'))
        Account.suspend([account])
        self.assertEqual(account.state, 'suspended')
        Account.activate([account])
        self.assertEqual(account.state, 'active')
        Account.close([account])
        self.assertEqual(account.state, 'closed')
        Account.activate([account])
        self.assertEqual(account.state, 'closed')

    @with_transaction()
    def test_currency_kept_once_money_moved(self):
        """A prepaid account with 12.22 USD on it cannot switch to EUR (its
        balance would read 12.22 EUR); without movements it may"""
        pool = Pool()
        Account = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        usd = create_currency('USD')
        prepaid = t.r2_customer
        Account.write([prepaid], {'currency': usd.id})
        BalanceLine.add_movements([{'account': prepaid.id,
                    'amount': Decimal('12.22'), 'kind': 'topup'}])
        with self.assertRaisesRegex(UserError,
                r'cannot change: its balance \(12\.22.* USD\)'):
            Account.write([prepaid], {'currency': t.currency.id})
        self.assertEqual(
            Account.read([prepaid.id], ['currency', 'balance']), [{
                    'id': prepaid.id, 'currency': usd.id,
                    'balance': Decimal('12.22')}])
        # The same currency written again changes nothing: allowed.
        Account.write([prepaid], {'currency': usd.id})

    @with_transaction()
    def test_reseller_account_must_match_tenant(self):
        "A reseller account is billed by the reseller's parent only"
        pool = Pool()
        Account = pool.get('telecom.account')
        t = create_tenancy()
        with self.assertRaisesRegex(UserError, 'reseller'):
            Account.write([t.r3_customer], {'reseller': t.r2.id})

    @with_transaction()
    def test_company_tree_has_no_cycle(self):
        "A company cannot become its own ancestor"
        pool = Pool()
        Company = pool.get('company.company')
        t = create_tenancy()
        with self.assertRaises(UserError):
            Company.write([t.r1], {'parent': t.r2.id})

    @with_transaction()
    def test_group_shares_within_tenant(self):
        "A group's accounts share features and belong to its tenant (F6)"
        pool = Pool()
        Group = pool.get('telecom.account.group')
        Account = pool.get('telecom.account')
        t = create_tenancy()
        sales = create_customer("Sales Dept", t.r1)
        group, = Group.create([{
                    'name': "ACME", 'company': t.r1.id,
                    'accounts': [('add', [t.r1_customer.id, sales.id])]}])
        self.assertTrue(group.shares_with(sales))
        self.assertFalse(group.shares_with(t.r2_customer))
        with self.assertRaises(UserError):
            Account.write([t.r2_customer], {'group': group.id})

    # --- Roles and menus (F7) -------------------------------------------

    @with_transaction()
    def test_role_defines_menus(self):
        "An owner administrator defines a role and the menus it sees"
        pool = Pool()
        Role = pool.get('res.role')
        Group = pool.get('res.group')
        Menu = pool.get('ir.ui.menu')
        MenuGroup = pool.get('ir.ui.menu-res.group')
        ModelAccess = pool.get('ir.model.access')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        t = create_tenancy()

        menu_account = Menu(ModelData.get_id('telecom_base', 'menu_account'))
        menu_numbers = Menu(ModelData.get_id('telecom_base', 'menu_number'))
        numbering, = Group.create([{'name': "Numbering desk"}])
        # The role sees the numbers menu and the menus that lead to it.
        MenuGroup.create([{'menu': m, 'group': numbering.id} for m in [
                    ModelData.get_id('telecom_base', 'menu_telecom'),
                    ModelData.get_id('telecom_base', 'menu_services'),
                    menu_numbers.id]])
        # and may read numbers (menus of unreadable models are hidden).
        ModelAccess.create([{
                    'model': 'telecom.number', 'group': numbering.id,
                    'perm_read': True}])
        role, = Role.create([{
                    'name': "Numbering",
                    'groups': [('add', [numbering.id])]}])
        self.assertIn(menu_numbers, role.menus)
        self.assertNotIn(menu_account, role.menus)

        clerk = create_user('clerk', t.owner, groups=())
        User.write([clerk], {
                'roles': [('create', [{'role': role.id}])]})
        self.assertIn(numbering, clerk.groups)
        plain = create_user('plain', t.owner, groups=())

        with as_user(clerk):
            visible = Menu.search([])
            self.assertIn(menu_numbers, visible)
            self.assertNotIn(menu_account, visible)
        with as_user(plain):
            self.assertNotIn(menu_numbers, Menu.search([]))


del ModuleTestCase
