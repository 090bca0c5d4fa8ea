"""Rate decks in and out of a plan (F18): CSV and XLSX, all or nothing."""
import datetime as dt
import io
from decimal import Decimal

from openpyxl import Workbook, load_workbook

from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import (
    DatabaseTestCase, as_user, create_tenancy)
from trytond.modules.telecom_rating.exceptions import RateImportError
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .tools import UTC, cdr, create_rating

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DECK = (
    "Prefix,Destination,RATE,connect_fee,min_duration,increment_first,"
    "increment_next,valid_from,valid_to,priority,Time_Band\n"
    "44,United Kingdom,0.03,,,,,,,,peak\n"
    "44,United Kingdom,0.01,,,,,,,,offpeak\n"
    "447,UK mobile,0.12,0.05,30,30,6,,,,\n"
    "447,UK mobile,0.08,0.05,30,30,6,2026-04-01,,,\n"
    "33,France,0.015,,,60,60,2026-01-01T00:00:00+01:00,2027-01-01,5,\n")


def rows_of(plan):
    "The plan's rates as comparable tuples"
    pool = Pool()
    Rate = pool.get('telecom.rate')
    return sorted(
        (r.prefix, r.destination or '', r.price, r.connect_fee,
            r.min_duration, r.increment_first, r.increment_next,
            r.valid_from, r.valid_to, r.priority,
            r.time_band.name if r.time_band else '')
        for r in Rate.search([('plan', '=', plan.id)]))


def xlsx(rows):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


class ImportTestCase(DatabaseTestCase):
    "Test the import and export of rate decks"
    module = 'telecom_rating'

    def setup(self):
        pool = Pool()
        Band = pool.get('telecom.time_band')
        t = create_rating(create_tenancy())
        t.peak, t.offpeak = Band.create([{
                    'name': 'peak', 'company': t.owner.id,
                    'timezone': 'Europe/London',
                    'windows': [('create', [
                                {'days': 'mon-fri', 'start': dt.time(8),
                                    'end': dt.time(18)}])]}, {
                    'name': 'offpeak', 'company': t.owner.id,
                    'timezone': 'Europe/London',
                    'windows': [('create', [
                                {'days': 'mon-fri', 'start': dt.time(18),
                                    'end': dt.time(8)},
                                {'days': 'mon', 'start': dt.time(0),
                                    'end': dt.time(8)},
                                {'days': 'sat,sun', 'start': dt.time(0)},
                                ])]}])
        return t

    @with_transaction()
    def test_import_csv_replaces_and_prices(self):
        "A good CSV replaces the plan's rates and is priced at once"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Rate = pool.get('telecom.rate')
        t = self.setup()
        # Rate once: the compiled tariff is cached with the old prices.
        Cdr.ingest([cdr(t.owner_customer, 'before', '447700900123',
                    MONDAY, 95)])
        Account = pool.get('telecom.account')
        Account.write([t.owner_customer], {
                'rate_plans': [('add', [t.owner_plan.id])]})
        Cdr.rate_unrated()

        self.assertEqual(t.owner_plan.import_rates(
                DECK.encode(), 'deck.csv', replace=True), (5, 2))

        self.assertEqual(Rate.search(
                [('plan', '=', t.owner_plan.id)], count=True), 5)
        rate, = Rate.search([('prefix', '=', '33')])
        self.assertEqual(
            (rate.price, rate.increment_first, rate.priority,
                rate.valid_from, rate.valid_to, rate.destination),
            (Decimal('0.015'), 60, 5, dt.datetime(2025, 12, 31, 23),
                dt.datetime(2027, 1, 1), "France"))
        peak, = Rate.search([('prefix', '=', '44'),
                ('time_band', '=', t.peak.id)])
        self.assertEqual(peak.price, Decimal('0.03'))
        self.assertIsNone(
            Rate.search([('prefix', '=', '447')], limit=1)[0].time_band)

        Cdr.ingest([cdr(t.owner_customer, 'after', '447700900123',
                    MONDAY, 95)])
        Cdr.rate_unrated()
        after, = Cdr.search([('call_id', '=', 'after')])
        # 95 s on 30/6 → 96 s: 0.05 + 0.12 × 96 / 60 = 0.2420
        self.assertEqual([c.amount for c in after.charges],
            [Decimal('0.242')])

    @with_transaction()
    def test_import_xlsx(self):
        "An XLSX sheet is read like the CSV: numbers, dates, any case"
        pool = Pool()
        Rate = pool.get('telecom.rate')
        t = self.setup()
        data = xlsx([
                ['PREFIX', 'Rate', 'connect_fee', 'increment_first',
                    'increment_next', 'valid_from', 'time_band', None],
                [44, 0.03, 0, 1, 1, None, 'peak'],
                ['44', '0.01', None, 1, 1, None, 'offpeak'],
                [447, 0.125, 0.05, 30.0, 6, dt.datetime(2026, 4, 1), None],
                [],
                ])
        self.assertEqual(t.owner_plan.import_rates(
                data, 'deck.xlsx', replace=True), (3, 2))
        rate, = Rate.search([('prefix', '=', '447')])
        self.assertEqual(
            (rate.price, rate.connect_fee, rate.increment_first,
                rate.increment_next, rate.valid_from),
            (Decimal('0.125'), Decimal('0.05'), 30, 6,
                dt.datetime(2026, 4, 1)))
        self.assertEqual(Rate.search(
                [('time_band', '=', t.offpeak.id)], count=True), 1)

    @with_transaction()
    def test_bad_rows_rejected_with_every_problem(self):
        "A deck with bad rows is rejected whole, each problem listed"
        t = self.setup()
        before = rows_of(t.owner_plan)
        deck = (
            "prefix,rate,increment_first,time_band,valid_from,valid_to\n"
            "44,0.02,1,peak,,\n"
            "4a,0.02,1,,,\n"
            "45,-1,0,,,\n"
            "46,0.02,1,weekend,,\n"
            "47,0.0000001,1,,2026-05-01,2026-04-01\n"
            "\n"
            "44,0.03,1,peak,,\n")
        with self.assertRaises(RateImportError) as context:
            t.owner_plan.import_rates(deck.encode(), 'bad.csv', replace=True)
        problems = [(p.line, p.column) for p in context.exception.problems]
        self.assertEqual(problems, [
                (3, 'prefix'), (4, 'rate'), (4, 'increment_first'),
                (5, 'time_band'), (6, 'valid_to'), (8, 'prefix')])
        message = context.exception.message
        self.assertIn("nothing was applied", message)
        self.assertIn("bad.csv:5: column time_band: unknown time band "
            "'weekend'", message)
        self.assertIn("bad.csv:3: column prefix:", message)
        self.assertEqual(rows_of(t.owner_plan), before)

    @with_transaction()
    def test_extra_column_and_digits_rejected(self):
        "An unknown column is named; prices finer than the plan's digits"
        t = self.setup()
        before = rows_of(t.owner_plan)
        with self.assertRaises(RateImportError) as context:
            t.owner_plan.import_rates(
                b"prefix,rate,Discount\n44,0.02,5\n", 'extra.csv')
        problem, = context.exception.problems
        self.assertEqual((problem.line, problem.column), (1, 'discount'))
        self.assertIn("unknown column", problem.reason)

        with self.assertRaises(RateImportError) as context:
            t.owner_plan.import_rates(
                b"prefix,rate\n48,0.1234567\n", 'digits.csv')
        problem, = context.exception.problems
        self.assertEqual((problem.line, problem.column), (2, 'rate'))

        for data, name in [(b'\xff\xfe4\x004\x00', 'utf16.csv'),
                (b'PK\x03\x04garbage', 'broken.xlsx'),
                (b'prefix,rate\n', 'empty.csv')]:
            with self.assertRaises(RateImportError):
                t.owner_plan.import_rates(data, name)
        self.assertEqual(rows_of(t.owner_plan), before)

    @with_transaction()
    def test_message_is_capped(self):
        "Every problem is kept; the message shows the first fifty"
        t = self.setup()
        deck = "prefix,rate\n" + "".join(
            f"{i},x\n" for i in range(60))
        with self.assertRaises(RateImportError) as context:
            t.owner_plan.import_rates(deck.encode(), 'many.csv')
        self.assertEqual(len(context.exception.problems), 60)
        message = context.exception.message
        self.assertIn("many.csv:51: column rate", message)
        self.assertNotIn("many.csv:52:", message)
        self.assertIn("and 10 more", message)

    @with_transaction()
    def test_add_and_replace(self):
        "Add keeps the rates and refuses one the plan has; replace swaps"
        t = self.setup()
        plan = t.owner_plan
        self.assertEqual(plan.import_rates(
                b"prefix,rate\n33,0.015\n", 'add.csv'), (1, 0))
        self.assertEqual([r[0] for r in rows_of(plan)], ['33', '44', '447'])
        # Next month's price of 44 is a new rate; today's is refused.
        self.assertEqual(plan.import_rates(
                b"prefix,rate,valid_from\n44,0.01,2026-04-01\n",
                'next.csv'), (1, 0))
        with self.assertRaises(RateImportError) as context:
            plan.import_rates(b"prefix,rate\n49,0.3\n447,0.2\n", 'dup.csv')
        problem, = context.exception.problems
        self.assertEqual((problem.line, problem.column), (3, 'prefix'))
        self.assertIn("replace", problem.reason)
        self.assertEqual(len(rows_of(plan)), 4)

        self.assertEqual(plan.import_rates(
                b"prefix,rate\n447,0.2\n", 'new.csv', replace=True), (1, 4))
        self.assertEqual(
            [(r[0], r[2]) for r in rows_of(plan)], [('447', Decimal('0.2'))])

    @with_transaction()
    def test_round_trip(self):
        "Export then import gives the same rates, in CSV and XLSX"
        pool = Pool()
        Plan = pool.get('telecom.rate.plan')
        t = self.setup()
        t.owner_plan.import_rates(DECK.encode(), 'deck.csv', replace=True)
        expected = rows_of(t.owner_plan)
        csv_data = t.owner_plan.export_rates('csv')
        self.assertTrue(csv_data.startswith(
                b"prefix,destination,rate,connect_fee,min_duration,"
                b"increment_first,increment_next,valid_from,valid_to,"
                b"priority,time_band\n"))
        for format_ in ['csv', 'xlsx']:
            data = t.owner_plan.export_rates(format_)
            copy, = Plan.create([{
                        'name': f"Copy {format_}", 'company': t.owner.id,
                        'currency': t.currency.id}])
            self.assertEqual(copy.import_rates(
                    data, f'export.{format_}'), (5, 0))
            self.assertEqual(rows_of(copy), expected)
            self.assertEqual(copy.export_rates('csv'), csv_data)
        sheet = load_workbook(io.BytesIO(
                t.owner_plan.export_rates('xlsx'))).active
        self.assertEqual(
            [c.value for c in sheet[5]][:3], ['447', 'UK mobile', 0.12])

    @with_transaction()
    def test_tenant_only(self):
        "A reseller imports into its plans, not into its parent's"
        pool = Pool()
        Plan = pool.get('telecom.rate.plan')
        t = self.setup()
        r1_plan = Plan(t.r1_plan.id)
        owner_plan = Plan(t.owner_plan.id)
        with as_user(t.r1_user, t.r1):
            self.assertEqual(Plan(r1_plan.id).import_rates(
                    b"prefix,rate\n33,0.5\n", 'r1.csv'), (1, 0))
            self.assertIn(b"33,,0.5", Plan(r1_plan.id).export_rates())
            with self.assertRaises(AccessError):
                Plan(owner_plan.id).import_rates(
                    b"prefix,rate\n33,0.5\n", 'owner.csv')
            with self.assertRaises(AccessError):
                Plan(owner_plan.id).export_rates()
        self.assertEqual(
            [r[0] for r in rows_of(owner_plan)], ['44', '447'])

    @with_transaction()
    def test_wizards(self):
        "The plan's Import Rates and Export Rates wizards"
        pool = Pool()
        ImportRates = pool.get('telecom.rate.plan.import_rates',
            type='wizard')
        ExportRates = pool.get('telecom.rate.plan.export_rates',
            type='wizard')
        t = self.setup()
        context = {'active_model': 'telecom.rate.plan',
            'active_id': t.owner_plan.id, 'active_ids': [t.owner_plan.id]}
        before = rows_of(t.owner_plan)
        with Transaction().set_context(context):
            session_id, _, _ = ImportRates.create()
            # Adding is what the wizard offers first: it never loses a rate.
            result = ImportRates.execute(session_id, {}, 'start')
            self.assertEqual(result['view']['defaults']['mode'], 'add')
            # A replace stops at a confirmation saying what it removes …
            start = {'start': {'file': DECK.encode(), 'filename': 'deck.csv',
                    'mode': 'replace'}}
            result = ImportRates.execute(session_id, start, 'check')
            self.assertEqual(result['view']['state'], 'confirm')
            self.assertEqual(result['view']['defaults'], {'removed': 2})
            self.assertEqual(rows_of(t.owner_plan), before)
            # … and only the confirmation's Replace replaces.
            result = ImportRates.execute(session_id, start, 'import_')
            self.assertEqual(result['view']['defaults'],
                {'imported': 5, 'removed': 2})
            ImportRates.delete(session_id)
            self.assertEqual(len(rows_of(t.owner_plan)), 5)

            # An add goes straight to the import.
            session_id, _, _ = ImportRates.create()
            result = ImportRates.execute(session_id, {'start': {
                        'file': b"prefix,rate\n39,0.02\n",
                        'filename': 'italy.csv', 'mode': 'add'}}, 'check')
            self.assertEqual(result['view']['defaults'],
                {'imported': 1, 'removed': 0})
            ImportRates.delete(session_id)

            session_id, _, _ = ExportRates.create()
            result = ExportRates.execute(
                session_id, {'start': {'format': 'csv'}}, 'export')
            defaults = result['view']['defaults']
            self.assertEqual(defaults['filename'], 'Owner-wholesale-rates.csv')
            self.assertEqual(len(defaults['file'].splitlines()), 1 + 6)
            ExportRates.delete(session_id)
