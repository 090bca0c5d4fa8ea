"""Rating through the database: CDRs in, a charge per tenant level out.

Expected costs are worked out by hand in the comments (4 decimals,
half-up, unless said otherwise)."""
import datetime as dt
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import (
    DatabaseTestCase, as_user, create_tenancy)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

from .tools import UTC, cdr, create_rating

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def amounts(call):
    return [c.amount for c in sorted(call.charges, key=lambda c: c.level)]


class RatingTestCase(DatabaseTestCase):
    "Test rating of CDRs in the database"
    module = 'telecom_rating'

    def setup(self):
        return create_rating(create_tenancy())

    @with_transaction()
    def test_ingest_is_idempotent(self):
        "The same CDR posted twice is stored once"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        t = self.setup()
        rows = [cdr(t.r1_customer, 'c1', '447700900123', MONDAY, 95)]
        self.assertEqual(Cdr.ingest(rows), (1, 0))
        self.assertEqual(Cdr.ingest(rows + [
                    cdr(t.r1_customer, 'c2', '447700900123', MONDAY, 5)]),
            (1, 1))
        self.assertEqual(Cdr.search([], count=True), 2)
        call, = Cdr.search([('call_id', '=', 'c1')])
        self.assertEqual(call.company, t.r1)
        self.assertEqual(call.disposition, 'ANSWERED')
        self.assertEqual(call.state, 'unrated')

    @with_transaction()
    def test_ingest_normalises_the_callee_as_the_api(self):
        """Numbers dialled as at home (00…, national forms) are stored as
        the E.164 digits the API stores and rates (issue 15): before, a
        CDR of 00447700900123 kept its 00 and found no price"""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Country = pool.get('country.country')
        t = self.setup()
        gb, = Country.create([{'name': "United Kingdom", 'code': 'GB'}])
        t.r1_customer.country = gb
        t.r1_customer.national_prefix = '0'
        t.r1_customer.international_prefix = '00'
        t.r1_customer.save()
        Cdr.ingest([
                cdr(t.r1_customer, 'intl', '00447700900123', MONDAY, 60),
                cdr(t.r1_customer, 'national', '07700900123', MONDAY, 60),
                cdr(t.r1_customer, 'plus', '+447700900123', MONDAY, 60),
                cdr(t.r1_customer, 'short', '999', MONDAY, 0,
                    disposition='NO ANSWER'),
                cdr(t.r1_customer, 'in', '02071234567', MONDAY, 60,
                    direction='inbound'),
                ])
        self.assertEqual(
            {c.call_id: c.callee for c in Cdr.search([])}, {
                'intl': '447700900123', 'national': '447700900123',
                'plus': '447700900123', 'short': '999',
                'in': '02071234567'})

    @with_transaction()
    def test_rated_at_every_level(self):
        "A reseller's customer's call is priced at the owner and reseller"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        t = self.setup()
        Cdr.ingest([
                cdr(t.r1_customer, 'mobile', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'fixed', '442071234567', MONDAY, 61),
                cdr(t.r1_customer, 'missed', '447700900123', MONDAY, 0,
                    disposition='NO ANSWER'),
                ])
        self.assertEqual(Cdr.rate_unrated(), (3, 0))

        mobile, = Cdr.search([('call_id', '=', 'mobile')])
        # 95 s on 30/6: 30 + ceil(65 / 6) × 6 = 96 s charged.
        # Owner: 0.05 + 0.10 × 96 / 60 = 0.2100
        # R1 (uk-mobile +20 % and +0.01/min): 0.06 + 0.13 × 96 / 60 = 0.2680
        self.assertEqual(mobile.state, 'rated')
        self.assertEqual(amounts(mobile), [Decimal('0.21'), Decimal('0.268')])
        self.assertEqual(
            [(c.level, c.seller, c.account, c.charged_seconds)
                for c in sorted(mobile.charges, key=lambda c: c.level)],
            [(0, t.owner, t.r1_account, 96), (1, t.r1, t.r1_customer, 96)])
        # What R1 pays is charged to R1 as a reseller; its customer is not.
        self.assertEqual(
            [c.buyer for c in sorted(mobile.charges, key=lambda c: c.level)],
            [t.r1, None])

        fixed, = Cdr.search([('call_id', '=', 'fixed')])
        # 61 s on 1/1. Owner: 0.02 × 61 / 60 = 0.020333 → 0.0203
        # R1 (default +10 %): 0.022 × 61 / 60 = 0.022366 → 0.0224
        self.assertEqual(
            amounts(fixed), [Decimal('0.0203'), Decimal('0.0224')])

        missed, = Cdr.search([('call_id', '=', 'missed')])
        self.assertEqual(amounts(missed), [Decimal(0), Decimal(0)])

    @with_transaction()
    def test_three_levels(self):
        "A sub-reseller's customer is priced at three levels"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        t = self.setup()
        Cdr.ingest([cdr(t.r2_customer, 'c', '442071234567', MONDAY, 60)])
        Cdr.rate_unrated()
        call, = Cdr.search([])
        # 60 s at 0.02 → 0.0200; +10 % → 0.0220; +50 % → 0.0330
        self.assertEqual(
            amounts(call), [Decimal('0.02'), Decimal('0.022'),
                Decimal('0.033')])
        self.assertEqual(
            [c.seller for c in sorted(call.charges, key=lambda c: c.level)],
            [t.owner, t.r1, t.r2])

    @with_transaction()
    def test_unrated_kept_and_rated_when_rate_appears(self):
        "A call without rate is kept with its reason, rated once a rate exists"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Rate = pool.get('telecom.rate')
        t = self.setup()
        Cdr.ingest([cdr(t.r1_customer, 'fr', '33142000000', MONDAY, 60)])
        self.assertEqual(Cdr.rate_unrated(), (0, 1))
        call, = Cdr.search([])
        self.assertEqual(call.state, 'unrated')
        self.assertIn('no rate for 33142000000', call.unrated_reason)
        self.assertFalse(call.charges)

        Rate.create([{'plan': t.owner_plan.id, 'prefix': '33',
                    'price': Decimal('0.0300')}])
        self.assertEqual(Cdr.rate_unrated(), (1, 0))
        # 0.03 → 0.0300; R1 +10 % → 0.0330
        self.assertEqual(amounts(call), [Decimal('0.03'), Decimal('0.033')])
        self.assertIsNone(call.unrated_reason)

    @with_transaction()
    def test_backlog_follows_state(self):
        "The backlog holds exactly the unrated CDRs, however they came in"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        t = self.setup()
        Cdr.ingest([
                cdr(t.r1_customer, 'uk', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'fr', '33142000000', MONDAY, 60),
                ])
        # A CDR stored twice enters the backlog once.
        Cdr.ingest([cdr(t.r1_customer, 'uk', '447700900123', MONDAY, 95)])
        uk, = Cdr.search([('call_id', '=', 'uk')])
        fr, = Cdr.search([('call_id', '=', 'fr')])
        self.assertEqual(Cdr.unrated_ids(), sorted([uk.id, fr.id]))

        self.assertEqual(Cdr.rate_unrated(), (1, 1))
        self.assertEqual(Cdr.unrated_ids(), [fr.id])
        self.assertEqual(
            [c.id for c in Cdr.search([('state', '=', 'unrated')])], [fr.id])
        # Re-rating a rated call leaves the backlog alone.
        Cdr.rerate([uk])
        self.assertEqual(Cdr.unrated_ids(), [fr.id])

        Cdr.delete([fr])
        self.assertEqual(Cdr.unrated_ids(), [])
        self.assertEqual(Cdr.rate_unrated(), (0, 0))

    @with_transaction()
    def test_account_without_plan_unrated(self):
        "An account without plan leaves its calls unrated, saying why"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        t = self.setup()
        Cdr.ingest([cdr(t.r3_customer, 'x', '442071234567', MONDAY, 60)])
        Cdr.rate_unrated()
        call, = Cdr.search([])
        self.assertEqual(call.state, 'unrated')
        self.assertIn('has no outbound voice rate plan', call.unrated_reason)

    @with_transaction()
    def test_time_band_split(self):
        "A call across the peak boundary pays each part at its band"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Band = pool.get('telecom.time_band')
        Rate = pool.get('telecom.rate')
        t = self.setup()
        peak, = Band.create([{
                    'name': "Peak", 'company': t.owner.id,
                    'timezone': 'Europe/London',
                    'windows': [('create', [{
                                    'days': 'mon-fri',
                                    'start': dt.time(8, 0),
                                    'end': dt.time(18, 0)}])]}])
        Rate.create([{
                    'plan': t.owner_plan.id, 'prefix': '44',
                    'price': Decimal('0.0600'), 'time_band': peak.id}])
        # London is on UTC until 29 March 2026.
        start = dt.datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)
        Cdr.ingest([cdr(t.r1_customer, 'x', '442071234567', start, 60)])
        Cdr.rate_unrated()
        call, = Cdr.search([])
        # 30 s off-peak at 0.02 + 30 s peak at 0.06 = 0.01 + 0.03 = 0.0400
        # R1 +10 %: 0.011 + 0.033 = 0.0440
        self.assertEqual(amounts(call), [Decimal('0.04'), Decimal('0.044')])

    @with_transaction()
    def test_future_price_does_not_disturb(self):
        "Next month's price loaded today applies from its date only"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Rate = pool.get('telecom.rate')
        t = self.setup()
        Rate.create([{
                    'plan': t.owner_plan.id, 'prefix': '44',
                    'price': Decimal('0.0900'),
                    'valid_from': dt.datetime(2026, 4, 1)}])
        Cdr.ingest([
                cdr(t.r1_customer, 'march', '442071234567', MONDAY, 60),
                cdr(t.r1_customer, 'april', '442071234567',
                    dt.datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC), 60),
                ])
        Cdr.rate_unrated()
        march, = Cdr.search([('call_id', '=', 'march')])
        april, = Cdr.search([('call_id', '=', 'april')])
        self.assertEqual(amounts(march)[0], Decimal('0.02'))
        self.assertEqual(amounts(april)[0], Decimal('0.09'))

    @with_transaction()
    def test_bundle_used_before_money_and_rolls_over(self):
        "Included minutes are spent first; what is left rolls over once"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Bundle = pool.get('telecom.bundle')
        Balance = pool.get('telecom.bundle.balance')
        t = self.setup()
        bundle, = Bundle.create([{
                    'plan': t.r1_plan.id, 'name': "2 mobile minutes",
                    'minutes': 2,
                    'groups': [('add', [t.uk_mobile.id])]}])
        Cdr.ingest([
                cdr(t.r1_customer, 'a', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'b', '447700900123',
                    MONDAY + dt.timedelta(hours=1), 95),
                cdr(t.r1_customer, 'april', '447700900123',
                    dt.datetime(2026, 4, 2, tzinfo=UTC), 30),
                ])
        Cdr.rate_unrated()
        a, = Cdr.search([('call_id', '=', 'a')])
        b, = Cdr.search([('call_id', '=', 'b')])
        # a: 96 s charged, all inside the 120 s bundle at R1's level: 0.
        # The owner still charges R1 for the call.
        self.assertEqual(amounts(a), [Decimal('0.21'), Decimal(0)])
        # b: 24 s left in the bundle cover its first 24 s; 72 s are paid:
        # 0.06 + 0.13 × 72 / 60 = 0.06 + 0.156 = 0.2160
        self.assertEqual(amounts(b), [Decimal('0.21'), Decimal('0.216')])
        self.assertEqual(
            [c.bundle_seconds
                for c in sorted(b.charges, key=lambda c: c.level)], [0, 24])
        march, = Balance.search([
                ('month', '=', dt.date(2026, 3, 1))])
        self.assertEqual(
            (march.carried, march.current, march.used), (0, 0, 120))
        april, = Balance.search([('month', '=', dt.date(2026, 4, 1))])
        # Nothing left from March; April's 30 s call is inside the bundle.
        self.assertEqual(
            (april.carried, april.current, april.used), (0, 90, 30))

    @with_transaction()
    def test_bundle_rollover_one_month_only(self):
        "Unused minutes are carried into the next month, not beyond"
        pool = Pool()
        Balance = pool.get('telecom.bundle.balance')
        Bundle = pool.get('telecom.bundle')
        t = self.setup()
        bundle, = Bundle.create([{
                    'plan': t.r1_plan.id, 'name': "Mobile", 'minutes': 2,
                    'groups': [('add', [t.uk_mobile.id])]}])
        key = (t.r1_customer.id, bundle.id)
        march = Balance.for_month(dt.date(2026, 3, 1), {key})
        Balance.spend(march, {key: 20})
        april = Balance.for_month(dt.date(2026, 4, 1), {key})[key]
        self.assertEqual((april.carried, april.current), (100, 120))
        Balance.spend({key: april}, {key: 150})
        # Carried seconds go first: 100 carried + 50 of April's.
        self.assertEqual((april.carried, april.current), (0, 70))
        may = Balance.for_month(dt.date(2026, 5, 1), {key})[key]
        self.assertEqual((may.carried, may.current), (70, 120))
        june = Balance.for_month(dt.date(2026, 6, 1), {key})[key]
        # May's carried 70 s expired; only May's own allowance rolls.
        self.assertEqual((june.carried, june.current), (120, 120))

    @with_transaction()
    def test_rerating_new_version(self):
        """Re-rating after a price change keeps the old version (F16); an
        invoiced call's adjustment is telecom_billing's (test_module)"""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Rate = pool.get('telecom.rate')
        Charge = pool.get('telecom.cdr.charge')
        t = self.setup()
        Cdr.ingest([
                cdr(t.r1_customer, 'inv', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'open', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'fixed', '442071234567', MONDAY, 60),
                ])
        Cdr.rate_unrated()

        rate, = Rate.search([('prefix', '=', '447')])
        Rate.write([rate], {'price': Decimal('0.2000')})
        calls = Cdr.search([])
        # Only the two mobile calls change; the fixed one keeps version 1.
        self.assertEqual(Cdr.rerate(calls), (2, 1, 0))
        invoiced, = Cdr.search([('call_id', '=', 'inv')])
        open_, = Cdr.search([('call_id', '=', 'open')])
        fixed, = Cdr.search([('call_id', '=', 'fixed')])
        # Owner: 0.05 + 0.20 × 1.6 = 0.3700; R1: 0.06 + 0.25 × 1.6 = 0.4600
        self.assertEqual(amounts(invoiced), [Decimal('0.37'), Decimal('0.46')])
        self.assertEqual(invoiced.rating_version, 2)
        self.assertEqual(open_.rating_version, 2)
        self.assertEqual(fixed.rating_version, 1)
        old = Charge.search([('cdr', '=', invoiced.id), ('version', '=', 1)])
        self.assertEqual(
            sorted(c.amount for c in old), [Decimal('0.21'), Decimal('0.268')])
        self.assertFalse(any(c.current for c in old))

        # Re-rating the same data again changes nothing.
        self.assertEqual(Cdr.rerate(Cdr.search([])), (0, 3, 0))
        self.assertEqual(Charge.search([], count=True), 2 * 3 + 2 * 2)

    @with_transaction()
    def test_prepaid_balance_debited_and_refunded(self):
        "Rated calls debit a prepaid balance; a cheaper re-rating refunds"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Rate = pool.get('telecom.rate')
        Account = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = self.setup()
        Account.write([t.r1_customer], {'billing_mode': 'prepaid'})
        BalanceLine.add_movements([{
                    'account': t.r1_customer.id, 'amount': Decimal(5),
                    'kind': 'topup', 'description': "Top-up"}])
        Cdr.ingest([
                cdr(t.r1_customer, 'a', '447700900123', MONDAY, 95),
                cdr(t.r1_customer, 'b', '442071234567', MONDAY, 61),
                ])
        Cdr.rate_unrated()
        customer = Account(t.r1_customer.id)
        # 5 − 0.2680 − 0.0224 = 4.7096
        self.assertEqual(customer.balance, Decimal('4.7096'))
        # The postpaid reseller account is not debited.
        self.assertEqual(Account(t.r1_account.id).balance, Decimal(0))

        rate, = Rate.search([('prefix', '=', '447')])
        Rate.write([rate], {'price': Decimal('0.0500')})
        Cdr.rerate(Cdr.search([]))
        # R1 now: 0.06 + (0.06 + 0.01) × 1.6 = 0.1720: 0.0960 refunded.
        self.assertEqual(
            Account(t.r1_customer.id).balance, Decimal('4.8056'))
        self.assertEqual(
            [(l.kind, l.amount) for l in BalanceLine.search(
                    [], order=[('id', 'ASC')])],
            [('topup', Decimal(5)), ('call', Decimal('-0.2904')),
                ('adjustment', Decimal('0.096'))])

    @with_transaction()
    def test_reseller_reads_its_purchase_as_sao_does(self):
        """A sub-reseller reads its call's charges with the names of what
        they point to (as the Calls form does): its purchase shows no
        seller, account or plan of its parent's (F2), its sale all"""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Charge = pool.get('telecom.cdr.charge')
        t = self.setup()
        Cdr.ingest([cdr(t.r2_customer, 'r2', '442071234567', MONDAY, 60)])
        Cdr.rate_unrated()
        names = ['level', 'amount', 'seller', 'seller.rec_name', 'account',
            'account.rec_name', 'plan', 'plan.rec_name']
        with as_user(t.r2_user):
            call, = Cdr.read([c.id for c in Cdr.search([])], ['charges'])
            # Not the charge of its parent's purchase from the owner.
            ids = call['charges']
            purchase, sale = sorted(
                Charge.read(ids, names), key=lambda c: c['level'])
        self.assertEqual(purchase['level'], 1)
        self.assertEqual(
            [purchase[n] for n in ['seller', 'seller.', 'account',
                    'account.', 'plan', 'plan.']], [None] * 6)
        self.assertEqual(sale['level'], 2)
        self.assertEqual(
            (sale['seller'], sale['account'], sale['plan']),
            (t.r2.id, t.r2_customer.id, t.r2_plan.id))
        self.assertEqual(sale['account.']['rec_name'],
            t.r2_customer.rec_name)
        self.assertEqual(sale['plan.']['rec_name'], t.r2_plan.rec_name)
        # The owner reads every level as it is.
        self.assertEqual(len(Cdr.read([call['id']], ['charges'])[0][
                    'charges']), 3)

    @with_transaction()
    def test_reseller_sees_its_levels_only(self):
        "A sub-reseller sees what it pays and sells, not what its parent pays"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Charge = pool.get('telecom.cdr.charge')
        t = self.setup()
        Cdr.ingest([
                cdr(t.r2_customer, 'r2', '442071234567', MONDAY, 60),
                cdr(t.r1_customer, 'r1', '442071234567', MONDAY, 60),
                ])
        Cdr.rate_unrated()
        with as_user(t.r2_user):
            self.assertEqual(
                [c.call_id for c in Cdr.search([])], ['r2'])
            self.assertEqual(
                sorted(c.level for c in Charge.search([])), [1, 2])
        r1_call, = Cdr.search([('call_id', '=', 'r1')])
        with as_user(t.r2_user):
            with self.assertRaises(AccessError):
                Cdr.read([r1_call.id], ['callee'])
        with as_user(t.r1_user):
            self.assertEqual(
                sorted(c.level for c in Charge.search([])), [0, 0, 1, 1, 2])
