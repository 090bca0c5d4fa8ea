"""Carrier decks in and out of the database (F18): CSV and XLSX, the same
columns, validation and all-or-nothing rule as customer decks."""
import datetime as dt
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import as_user, create_tenancy
from trytond.modules.telecom_lcr.engine import route_call
from trytond.modules.telecom_lcr.routing import load_routing
from trytond.modules.telecom_lcr.tests.database import LcrTestCase
from trytond.modules.telecom_lcr.tests.tools import create_carriers
from trytond.modules.telecom_rating.exceptions import RateImportError
from trytond.modules.telecom_rating.tests.test_import import xlsx
from trytond.modules.telecom_rating.tests.tools import UTC, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DECK = (
    "prefix,destination,rate,connect_fee,increment_first,increment_next,"
    "valid_from\n"
    "44,UK,0.004,,60,60,\n"
    "447,UK mobile,0.02,0.01,1,1,\n"
    "447,UK mobile,0.001,0.01,1,1,2026-04-01\n"
    "33,France,0.009,,,,\n")


def rates_of(carrier, service='voice'):
    pool = Pool()
    CarrierRate = pool.get('telecom.carrier.rate')
    return sorted(
        (r.prefix, r.destination or '', r.price, r.connect_fee,
            r.increment_first, r.increment_next, r.valid_from)
        for r in CarrierRate.search([
                ('carrier', '=', carrier.id), ('service', '=', service)]))


class CarrierImportTestCase(LcrTestCase):
    "Test the import and export of carrier decks"

    @with_transaction()
    def test_import_csv_replaces_and_routes(self):
        "A good CSV deck replaces the carrier's voice rates and routes"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        load_routing()
        self.assertEqual(Carrier(t.alpha.id).import_rates(
                DECK.encode(), 'alpha.csv', replace=True), (4, 2))
        self.assertEqual(rates_of(t.alpha), [
                ('33', 'France', Decimal('0.009'), Decimal(0), 1, 1, None),
                ('44', 'UK', Decimal('0.004'), Decimal(0), 60, 60, None),
                ('447', 'UK mobile', Decimal('0.001'), Decimal('0.01'), 1,
                    1, dt.datetime(2026, 4, 1)),
                ('447', 'UK mobile', Decimal('0.02'), Decimal('0.01'), 1, 1,
                    None),
                ])
        # Alpha is now cheaper for mobiles, and cheaper still in April.
        decision = route_call(load_routing(), t.owner_plan.id, 'voice', '',
            '447700900123', MONDAY)
        self.assertEqual(
            [(r.carrier, r.cost_per_minute) for r in decision.routes],
            [(t.alpha.id, Decimal('0.02')), (t.beta.id, Decimal('0.03'))])
        decision = route_call(load_routing(), t.owner_plan.id, 'voice', '',
            '447700900123', MONDAY.replace(month=4))
        self.assertEqual(decision.routes[0].cost_per_minute,
            Decimal('0.001'))

    @with_transaction()
    def test_import_xlsx_and_services(self):
        "An XLSX deck of SMS leaves the voice deck alone"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        data = xlsx([['prefix', 'destination', 'rate'],
                ['447', 'UK mobile SMS', 0.005], ['44', None, 0.01]])
        carrier = Carrier(t.beta.id)
        self.assertEqual(carrier.import_rates(
                data, 'sms.xlsx', service='sms', replace=True), (2, 0))
        self.assertEqual(len(rates_of(t.beta, 'voice')), 2)
        self.assertEqual([r[:3] for r in rates_of(t.beta, 'sms')], [
                ('44', '', Decimal('0.01')),
                ('447', 'UK mobile SMS', Decimal('0.005'))])

    @with_transaction()
    def test_bad_deck_changes_nothing(self):
        "A deck with any problem is rejected whole, every problem listed"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        before = rates_of(t.alpha)
        deck = ("prefix,rate,time_band,colour\n"
            "44,0.01,,red\n4x,-1,peak,blue\n")
        with self.assertRaises(RateImportError) as context:
            Carrier(t.alpha.id).import_rates(
                deck.encode(), 'bad.csv', replace=True)
        problems = [str(p) for p in context.exception.problems]
        self.assertTrue(problems)
        self.assertIn("bad.csv", context.exception.message)
        self.assertEqual(rates_of(t.alpha), before)

        # Adding a rate the carrier already has is a problem too.
        with self.assertRaises(RateImportError) as context:
            Carrier(t.alpha.id).import_rates(
                b"prefix,rate\n49,0.3\n447,0.2\n", 'dup.csv')
        self.assertEqual(
            [(p.line, p.column) for p in context.exception.problems],
            [(3, 'prefix')])
        self.assertIn("carrier already has", context.exception.message)
        self.assertEqual(rates_of(t.alpha), before)

        # Adding new prefixes works.
        self.assertEqual(Carrier(t.alpha.id).import_rates(
                b"prefix,rate\n49,0.3\n", 'de.csv'), (1, 0))

    @with_transaction()
    def test_export_round_trip(self):
        "Export then import gives the same rates, in CSV and XLSX"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        alpha = Carrier(t.alpha.id)
        alpha.import_rates(DECK.encode(), 'alpha.csv', replace=True)
        expected = rates_of(t.alpha)
        for format_ in ['csv', 'xlsx']:
            data = alpha.export_rates(format_)
            beta = Carrier(t.beta.id)
            beta.import_rates(data, f'alpha.{format_}', replace=True)
            self.assertEqual(rates_of(t.beta), expected, format_)

    @with_transaction()
    def test_reseller_imports_into_its_carriers_only(self):
        "A reseller loads decks into its own carriers, not its parent's"
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        t = create_carriers(create_rating(create_tenancy()))
        r1_carrier, = Carrier.create([{
                    'name': "R1 Trunk", 'code': 'r1-trunk',
                    'company': t.r1.id, 'currency': t.currency.id}])
        with as_user(t.r1_user):
            self.assertEqual(Carrier(r1_carrier.id).import_rates(
                    DECK.encode(), 'r1.csv', replace=True), (4, 0))
            with self.assertRaises(AccessError):
                Carrier(t.alpha.id).import_rates(
                    DECK.encode(), 'alpha.csv', replace=True)
            with self.assertRaises(AccessError):
                Carrier(t.alpha.id).export_rates()

    @with_transaction()
    def test_wizards(self):
        "The import and export wizards of the carrier form"
        pool = Pool()
        ImportRates = pool.get('telecom.carrier.import_rates',
            type='wizard')
        ExportRates = pool.get('telecom.carrier.export_rates',
            type='wizard')
        t = create_carriers(create_rating(create_tenancy()))
        context = {'active_model': 'telecom.carrier',
            'active_id': t.alpha.id, 'active_ids': [t.alpha.id]}
        from trytond.transaction import Transaction
        with Transaction().set_context(context):
            session_id, _, _ = ImportRates.create()
            result = ImportRates.execute(session_id, {}, 'start')
            self.assertEqual(result['view']['defaults']['mode'], 'add')
            # A replace is confirmed, seeing the carrier's 2 voice rates.
            start = {'start': {'file': DECK.encode(), 'filename': 'deck.csv',
                    'service': 'voice', 'mode': 'replace'}}
            result = ImportRates.execute(session_id, start, 'check')
            self.assertEqual(result['view']['defaults'], {'removed': 2})
            result = ImportRates.execute(session_id, start, 'import_')
            self.assertEqual(
                result['view']['defaults'],
                {'imported': 4, 'removed': 2})
            session_id, _, _ = ExportRates.create()
            result = ExportRates.execute(session_id, {
                    'start': {'format': 'csv', 'service': 'voice'}},
                'export')
            defaults = result['view']['defaults']
            self.assertEqual(defaults['filename'], 'alpha-voice-rates.csv')
            self.assertEqual(
                len(defaults['file'].decode().splitlines()), 5)
