import datetime as dt
import io
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_tenancy)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

D = dt.date


def csv_file(text):
    return text.encode()


def xlsx_file(rows):
    import openpyxl
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def create_carrier(company, code='tier1'):
    pool = Pool()
    Carrier = pool.get('telecom.carrier')
    carrier, = Carrier.create([{
                'name': code.title(), 'code': code, 'company': company.id,
                'currency': company.currency.id}])
    return carrier


class TelecomNumberTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_number module"
    module = 'telecom_number'

    @with_transaction()
    def test_import_csv(self):
        "A CSV of ranges and single numbers is imported with its costs"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        carrier = create_carrier(t.owner)
        count = Number.import_file(t.owner, csv_file(
                "first,last,number,carrier,setup_cost,monthly_cost,"
                "minute_cost\n"
                "+44 20 7946 0000,+44 20 7946 0099,,tier1,5,1.50,0.004\n"
                ",,+33 1 84 88 00 00,,,2,\n"))
        self.assertEqual(count, 101)
        self.assertEqual(Number.search([], count=True), 101)
        first, = Number.search([('number', '=', '442079460000')])
        self.assertEqual(first.state, 'available')
        self.assertEqual(first.carrier, carrier)
        self.assertEqual(first.currency, t.owner.currency)
        self.assertEqual(
            (first.setup_cost, first.monthly_cost, first.minute_cost),
            (Decimal('5'), Decimal('1.5'), Decimal('0.004')))
        self.assertTrue(Number.search([('number', '=', '442079460099')]))
        french, = Number.search([('number', '=', '33184880000')])
        self.assertIsNone(french.carrier)
        self.assertEqual(french.monthly_cost, Decimal(2))

    @with_transaction()
    def test_import_xlsx(self):
        "An XLSX workbook is read like a CSV, numbers typed as numbers too"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        count = Number.import_file(t.owner, xlsx_file([
                    ['Number', 'Monthly_Cost'],
                    [442079460500, 1.25],
                    ['+442079460501', None],
                    ]))
        self.assertEqual(count, 2)
        number, = Number.search([('number', '=', '442079460500')])
        self.assertEqual(number.monthly_cost, Decimal('1.25'))

    @with_transaction()
    def test_import_all_or_nothing(self):
        "A file with errors adds nothing and names every line and column"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        Number.import_file(t.owner, csv_file("number\n442079460050\n"))
        bad = csv_file(
            "number;first;last;carrier;monthly_cost\n"
            "442079461000;;;;1\n"                      # 2: fine
            "44207x;;;;1\n"                            # 3: not digits
            ";442079462000;44207946200;;\n"            # 4: two lengths
            ";442079463009;442079463000;;\n"           # 5: backwards
            "442079461001;;;nosuch;-1\n"               # 6: carrier, cost
            ";;;;\n"                                   # blank: skipped
            ";442079460000;442079460099;;\n")          # 8: in inventory
        with self.assertRaises(UserError) as cm:
            Number.import_file(t.owner, bad)
        message = cm.exception.message
        for expected in [
                'line 3, column "number"',
                'line 4, column "last"',
                'line 5, column "last"',
                'line 6, column "carrier"',
                'line 6, column "monthly_cost"',
                ]:
            self.assertIn(expected, message)
        self.assertNotIn('line 2,', message)
        self.assertEqual(Number.search([], count=True), 1)

        # Checked against the inventory and within the file, once the
        # rows themselves are right.
        with self.assertRaises(UserError) as cm:
            Number.import_file(t.owner, csv_file(
                    "first,last\n"
                    "442079460000,442079460099\n"
                    "442079470000,442079470009\n"
                    "442079470005,442079470005\n"))
        message = cm.exception.message
        self.assertIn(
            'line 2, column "number": 442079460050 is already', message)
        self.assertIn('line 4, column "number": the numbers overlap those '
            'of line 3', message)
        self.assertEqual(Number.search([], count=True), 1)

        with self.assertRaises(UserError):
            Number.import_file(t.owner, b'\xff\xfe garbage')
        with self.assertRaises(UserError):
            Number.import_file(t.owner, csv_file("number\n"))

    @with_transaction()
    def test_assign_release_quarantine(self):
        "Assign makes the account's number; release quarantines it"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        Service = pool.get('telecom.number')
        Company = pool.get('company.company')
        t = create_tenancy()
        Company.write([t.owner], {'number_quarantine_days': 30})
        Number.import_file(t.owner, csv_file("number\n442079460000\n"))
        number, = Number.search([])

        Number.assign_to([number], t.owner_customer, D(2024, 3, 10))
        self.assertEqual(number.state, 'assigned')
        self.assertEqual(number.account, t.owner_customer)
        service = number.service
        self.assertEqual(
            (service.account, service.number, service.start_date),
            (t.owner_customer, '442079460000', D(2024, 3, 10)))
        with self.assertRaises(UserError):
            Number.assign_to([number], t.owner_customer)

        Number.release([number], D(2024, 4, 15))
        self.assertEqual(number.state, 'quarantined')
        self.assertEqual(number.quarantine_until, D(2024, 5, 15))
        self.assertIsNone(number.service)
        self.assertEqual(Service(service.id).end_date, D(2024, 4, 15))

        other = t.owner_customer.__class__.create([{
                    'party': t.owner_customer.party.id,
                    'company': t.owner.id,
                    'currency': t.currency.id}])[0]
        with self.assertRaises(UserError):
            Number.assign_to([number], other, D(2024, 5, 14))
        Number.end_quarantines(D(2024, 5, 14))
        self.assertEqual(number.state, 'quarantined')
        Number.end_quarantines(D(2024, 5, 15))
        self.assertEqual(number.state, 'available')
        # The previous holder's service, ended, does not conflict.
        Number.assign_to([number], other, D(2024, 5, 20))
        self.assertEqual(number.service.account, other)
        self.assertEqual(Service.search([
                    ('number', '=', '442079460000')], count=True), 2)

        Number.port_out([number], D(2024, 6, 30))
        self.assertEqual(number.state, 'ported_out')
        self.assertEqual(
            Service.search([('account', '=', other.id)])[0].end_date,
            D(2024, 6, 30))
        with self.assertRaises(UserError):
            Number.assign_to([number], other)

    @with_transaction()
    def test_reserve(self):
        "A number reserved for an account goes to that account only"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        Number.import_file(t.owner, csv_file("number\n442079460000\n"))
        number, = Number.search([])
        # Nothing to release before it is assigned.
        with self.assertRaises(UserError):
            Number.release([number])
        Number.reserve([number], t.r1_account)
        self.assertEqual(number.state, 'reserved')
        with self.assertRaises(UserError):
            Number.port_out([number])
        with self.assertRaises(UserError):
            Number.assign_to([number], t.owner_customer)
        with self.assertRaises(UserError):
            Number.delete([number])
        Number.make_available([number])
        self.assertEqual((number.state, number.account), ('available', None))

    @with_transaction()
    def test_reseller_buys_from_parent(self):
        "A number assigned to a reseller's account enters its inventory"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        Number.import_file(t.owner, csv_file(
                "number,monthly_cost\n442079460000,1\n442079460001,1\n"))
        mine, theirs = Number.search([], order=[('number', 'ASC')])
        Number.assign_to([theirs], t.r1_account, D(2024, 3, 10))
        self.assertEqual(theirs.state, 'assigned')
        self.assertIsNone(theirs.service)

        with as_user(t.r1_user, t.r1):
            bought, = Number.search([])
            self.assertEqual(bought.number, '442079460001')
            self.assertEqual(bought.state, 'available')
            self.assertTrue(bought.bought_from_parent)
            # A number of another tenant's customer cannot be taken.
            with self.assertRaises(UserError):
                Number.assign_to([bought], t.owner_customer)
            Number.assign_to([bought], t.r1_customer, D(2024, 3, 12))
            self.assertEqual(bought.service.account, t.r1_customer)

        # The parent cannot take it back while the reseller's customer has it.
        with self.assertRaises(UserError):
            Number.release([theirs])
        Number.release([bought])
        Number.release([theirs])
        # Back with the parent: out of the reseller's reach, its history
        # kept.
        returned, = Number.search([('company', '=', t.r1.id)])
        self.assertEqual(returned.state, 'ported_out')
        with self.assertRaises(UserError):
            Number.assign_to([returned], t.r1_customer)
        # Sold again, the reseller's number is taken up again.
        Number.make_available([theirs], D(2099, 1, 1))
        Number.assign_to([theirs], t.r1_account)
        self.assertEqual(returned.state, 'available')

    @with_transaction()
    def test_tenant_wall(self):
        "A reseller sees and imports into its own inventory only"
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        Number.import_file(t.owner, csv_file("number\n442079460000\n"))
        Number.import_file(t.r1, csv_file("number\n442079460000\n"))
        self.assertEqual(Number.search([], count=True), 2)
        with as_user(t.r1_user, t.r1):
            number, = Number.search([])
            self.assertEqual(number.company, t.r1)
        with as_user(t.r2_user, t.r2):
            self.assertEqual(Number.search([]), [])


del ModuleTestCase
