import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy)
from trytond.modules.telecom_billing.cdr import billed_table
from trytond.modules.telecom_billing.exceptions import BillingError
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

from .database import create_usage_product
from ..recurring import (
    active_days, charge_period, extra_units, periods_ending_in, prorate)

D = dt.date


class TelecomBillingTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_billing module"
    module = 'telecom_billing'

    def test_charge_periods(self):
        "Charge periods are calendar months, quarters, half-years, years"
        self.assertEqual(
            charge_period('monthly', D(2024, 2, 10)),
            (D(2024, 2, 1), D(2024, 2, 29)))
        self.assertEqual(
            charge_period('quarterly', D(2024, 5, 31)),
            (D(2024, 4, 1), D(2024, 6, 30)))
        self.assertEqual(
            charge_period('half_yearly', D(2024, 12, 31)),
            (D(2024, 7, 1), D(2024, 12, 31)))
        self.assertEqual(
            charge_period('annual', D(2024, 1, 1)),
            (D(2024, 1, 1), D(2024, 12, 31)))
        self.assertEqual(
            list(periods_ending_in('monthly', D(2024, 1, 1), D(2024, 3, 31))),
            [(D(2024, 1, 1), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 29)),
                (D(2024, 3, 1), D(2024, 3, 31))])
        # A quarter is billed by the run that holds its last day.
        self.assertEqual(
            list(periods_ending_in(
                    'quarterly', D(2024, 2, 1), D(2024, 2, 29))), [])
        self.assertEqual(
            list(periods_ending_in(
                    'quarterly', D(2024, 3, 1), D(2024, 3, 31))),
            [(D(2024, 1, 1), D(2024, 3, 31))])

    def test_prorating(self):
        "Pro-rating by days of the charge period"
        january = (D(2024, 1, 1), D(2024, 1, 31))
        self.assertEqual(active_days(january, D(2024, 1, 12)), 20)
        self.assertEqual(active_days(january, None, D(2024, 1, 10)), 10)
        self.assertEqual(active_days(january, D(2024, 2, 1)), 0)
        self.assertEqual(
            round(prorate(Decimal('9.95'), 20, 31), 2), Decimal('6.42'))
        self.assertEqual(prorate(Decimal('9.95'), 31, 31), Decimal('9.95'))

    def test_extra_units(self):
        "The services beyond the included count, by days"
        january = (D(2024, 1, 1), D(2024, 1, 31))
        always = (None, None)
        # 7 lines all month, one from the 12th, one until the 10th; 5 free.
        units = extra_units(january,
            [always] * 7 + [(D(2024, 1, 12), None), (None, D(2024, 1, 10))],
            included=5)
        self.assertEqual(units, [31, 31, 30])
        # Days 1-10: 8 lines, 3 extra; 11: 7, 2 extra; 12-31: 8, 3 extra.
        self.assertEqual(extra_units(january, [always] * 4, included=5), [])
        self.assertEqual(
            extra_units(january, [always] * 30, included=5, maximum=20),
            [31] * 15)

    @with_transaction()
    def test_reseller_chain(self):
        "Each level's invoice adds up to its level's rated charges"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Charge = pool.get('telecom.cdr.charge')
        Run = pool.get('telecom.billing.run')
        Invoice = pool.get('account.invoice')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Address = pool.get('party.address')
        t = create_rating(create_tenancy())
        Address.create([{'party': a.party.id}
                for a in [t.r1_account, t.r1_customer]
                if not a.party.addresses])
        for company in [t.owner, t.r1]:
            create_usage_product(company)
        start = dt.datetime(2024, 1, 10, 9)
        Cdr.ingest([
                cdr(t.r1_customer, 'c1', '447700900123', start, 125),
                cdr(t.r1_customer, 'c2', '442071234567',
                    start + dt.timedelta(hours=1), 61),
                cdr(t.r1_customer, 'c3', '447700900124',
                    start + dt.timedelta(days=3), 7)])
        self.assertEqual(Cdr.rate_unrated(), (3, 0))

        def level_total(level):
            return sum(c.amount for c in Charge.search([
                        ('level', '=', level), ('current', '=', True)]))

        product = Pool().get('telecom.billing.configuration')(
            1).get_multivalue('usage_product', company=t.owner.id)

        def extra_lines(run, ctx, accounts):
            # Another module's lines, through the run's extension hook: a
            # 5.00 platform fee on Reseller One's account.
            return {a: [run._line(ctx, a, product, 'charge', 1,
                        Decimal('5.00'), "Platform fee",
                        (run.start_date, run.end_date))]
                for a in accounts if a == t.r1_account}

        with patch.object(Run, '_extra_lines', extra_lines):
            owner_run = Run.bill(t.owner, D(2024, 1, 1), D(2024, 1, 31))
        r1_run = Run.bill(t.r1, D(2024, 1, 1), D(2024, 1, 31))
        invoice, = owner_run.invoices
        self.assertEqual(invoice.party, t.r1_account.party)
        self.assertEqual(invoice.company, t.owner)
        self.assertEqual(invoice.untaxed_amount,
            t.currency.round(level_total(0)) + Decimal('5.00'))
        fee, = [l for l in invoice.lines if l.description == "Platform fee"]
        self.assertEqual(fee.account.type.revenue, True)
        customer_invoice, = r1_run.invoices
        self.assertEqual(customer_invoice.party, t.r1_customer.party)
        self.assertEqual(customer_invoice.company, t.r1)
        self.assertEqual(customer_invoice.untaxed_amount,
            t.currency.round(level_total(1)))
        self.assertGreater(level_total(1), level_total(0))
        self.assertEqual(Cdr.search([('invoiced', '=', True)], count=True), 3)

        # A reseller sees its own invoices and runs, not its parent's.
        User.write([t.r1_user, t.r2_user], {'groups': [('add', [
                            ModelData.get_id('account', 'group_account'),
                            ModelData.get_id(
                                'telecom_billing', 'group_telecom_billing'),
                            ])]})
        with as_user(t.r1_user):
            self.assertEqual(
                [i.id for i in Invoice.search([])], [customer_invoice.id])
            self.assertEqual([r.id for r in Run.search([])], [r1_run.id])
        with as_user(t.r2_user):
            self.assertEqual(Invoice.search([]), [])
            self.assertEqual(Run.search([]), [])

    @with_transaction()
    def test_claim_late_call_rerating_release(self):
        """A charge is billed once: a late call of a billed month by the
        next run, a re-rated invoiced call as an adjustment, a cancelled
        run's calls again by the next run"""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Charge = pool.get('telecom.cdr.charge')
        Rate = pool.get('telecom.rate')
        Run = pool.get('telecom.billing.run')
        Address = pool.get('party.address')
        t = create_rating(create_tenancy())
        Address.create([{'party': t.r1_customer.party.id}])
        create_usage_product(t.r1)

        def lines(run):
            invoice, = run.invoices
            return sorted((l.telecom_kind, l.telecom_calls, l.amount)
                for l in invoice.lines)

        def run_of(cdr_, level=1):
            return {c.version: c.billing_run for c in Charge.search([
                        ('cdr', '=', cdr_.id), ('level', '=', level)])}

        # Mobile, 95 s: 30 s then 6 s steps, 96 s = 1.6 min. R1 sells at
        # the owner's price + 20 % + 0.01 a minute: connect 0.05 × 1.2 =
        # 0.06, 0.10 × 1.2 + 0.01 = 0.13 a minute: 0.06 + 0.13 × 1.6 =
        # 0.268, invoiced 0.27.
        Cdr.ingest([cdr(t.r1_customer, 'c1', '447700900123',
                    dt.datetime(2024, 1, 10, 9), 95)])
        Cdr.rate_unrated()
        c1, = Cdr.search([('call_id', '=', 'c1')])
        self.assertFalse(c1.invoiced)
        january = Run.bill(t.r1, D(2024, 1, 1), D(2024, 1, 31))
        self.assertEqual(lines(january), [('usage', 1, Decimal('0.27'))])
        c1 = Cdr(c1.id)
        self.assertTrue(c1.invoiced)
        self.assertFalse(c1.adjustment)
        # Reseller One billed its level; the owner's is still open.
        self.assertEqual(run_of(c1), {1: january})
        self.assertEqual(run_of(c1, level=0), {1: None})

        # A January call that arrives after January's run: February's run
        # bills it (0.27), and not c1 again.
        Cdr.ingest([cdr(t.r1_customer, 'c2', '447700900124',
                    dt.datetime(2024, 1, 20, 9), 95)])
        Cdr.rate_unrated()
        february = Run.bill(t.r1, D(2024, 2, 1), D(2024, 2, 29))
        self.assertEqual(lines(february), [('usage', 1, Decimal('0.27'))])
        c2, = Cdr.search([('call_id', '=', 'c2')])
        self.assertEqual(run_of(c2), {1: february})

        # The mobile price doubles and c1 is re-rated: 0.06 + (0.20 × 1.2
        # + 0.01) × 1.6 = 0.46, 0.192 more than invoiced.
        rate, = Rate.search([('prefix', '=', '447')])
        Rate.write([rate], {'price': Decimal('0.2000')})
        Cdr.rerate([c1])
        self.assertEqual(Cdr.search([('adjustment', '=', True)]), [c1])
        self.assertEqual(
            Cdr.search([('adjustment', '!=', True)]), [c2])
        self.assertEqual(run_of(c1), {1: january, 2: None})

        # Cancelling February's run gives c2 back to billing.
        Run.cancel([february])
        c2 = Cdr(c2.id)
        self.assertFalse(c2.invoiced)
        self.assertEqual(run_of(c2), {1: None})

        # March's run: c2 again, once (0.27), and c1's difference, 0.192 →
        # 0.19; nothing is left to adjust.
        march = Run.bill(t.r1, D(2024, 3, 1), D(2024, 3, 31))
        self.assertEqual(lines(march), [
                ('adjustment', 1, Decimal('0.19')),
                ('usage', 1, Decimal('0.27'))])
        self.assertEqual(march.calls, 2)
        self.assertEqual(Cdr.search([('adjustment', '=', True)]), [])
        self.assertEqual(
            Cdr.search([('invoiced', '=', True)], order=[('id', 'ASC')]),
            [c1, c2])
        self.assertEqual(run_of(c1), {1: january, 2: march})
        self.assertEqual(run_of(c2), {1: march})
        # Nothing is left: a run of April bills no call.
        self.assertEqual(
            Run.bill(t.r1, D(2024, 4, 1), D(2024, 4, 30)).invoices, ())

        # A call claimed by someone else between the run's reading and its
        # claim (the rating lock forbids it; the claim checks it anyway):
        # the run is refused rather than invoice the call a second time.
        Cdr.ingest([cdr(t.r1_customer, 'c3', '447700900125',
                    dt.datetime(2024, 5, 2, 9), 95)])
        Cdr.rate_unrated()
        c3, = Cdr.search([('call_id', '=', 'c3')])
        c3_charge, = Charge.search([
                ('cdr', '=', c3.id), ('level', '=', 1)])
        usage = Run._usage

        def usage_then_claimed_elsewhere(run):
            result = usage(run)
            billed = billed_table()
            Transaction().connection.cursor().execute(*billed.insert(
                    [billed.charge, billed.run, billed.account],
                    [[c3_charge.id, march.id, t.r1_customer.id]]))
            return result
        with patch.object(Run, '_usage', usage_then_claimed_elsewhere):
            with self.assertRaises(BillingError) as raised:
                Run.bill(t.r1, D(2024, 5, 1), D(2024, 5, 31))
        self.assertIn("counted 1 calls but could claim only 0",
            raised.exception.message)

    @with_transaction()
    def test_charge_in_advance(self):
        """A charge billed in advance: the rest of its first month and the
        next; ended after billing, the days billed beyond credited; ended
        before billing, billed up to its end and nothing credited"""
        pool = Pool()
        Charge = pool.get('telecom.account.charge')
        Run = pool.get('telecom.billing.run')
        Address = pool.get('party.address')
        t = create_tenancy()
        Address.create([{'party': t.owner_customer.party.id}])
        create_usage_product(t.owner, fiscal_year=D(2024, 1, 1))
        product = Pool().get('telecom.billing.configuration')(
            1).get_multivalue('usage_product', company=t.owner.id)
        rental, ending = Charge.create([{
                    'account': t.owner_customer.id, 'product': product.id,
                    'description': "Rental", 'amount': Decimal('30.00'),
                    'currency': t.currency.id, 'recurrence': 'monthly',
                    'timing': 'advance', 'start_date': D(2024, 3, 10)}, {
                    'account': t.owner_customer.id, 'product': product.id,
                    'description': "Ending", 'amount': Decimal('30.00'),
                    'currency': t.currency.id, 'recurrence': 'monthly',
                    'timing': 'advance', 'start_date': D(2024, 3, 1),
                    'end_date': D(2024, 4, 10)}])

        def lines(run):
            invoice, = run.invoices
            return sorted((l.origin.description, l.telecom_period_start,
                    l.telecom_period_end, l.amount) for l in invoice.lines)

        # 30 × 22 / 31 = 21.2903… → 21.29; 30 × 10 / 30 = 10.00.
        self.assertEqual(lines(Run.bill(
                    t.owner, D(2024, 3, 1), D(2024, 3, 31))), [
                ("Ending", D(2024, 3, 1), D(2024, 3, 31), Decimal('30.00')),
                ("Ending", D(2024, 4, 1), D(2024, 4, 10), Decimal('10.00')),
                ("Rental", D(2024, 3, 1), D(2024, 3, 31), Decimal('21.29')),
                ("Rental", D(2024, 4, 1), D(2024, 4, 30), Decimal('30.00')),
                ])
        Charge.write([rental], {'end_date': D(2024, 4, 15)})
        # 30 × 15 / 30 = 15.00 back.
        self.assertEqual(lines(Run.bill(
                    t.owner, D(2024, 4, 1), D(2024, 4, 30))), [
                ("Rental", D(2024, 4, 16), D(2024, 4, 30),
                    Decimal('-15.00')),
                ])
        self.assertFalse(Run.bill(
                t.owner, D(2024, 5, 1), D(2024, 5, 31)).invoices)
        self.assertEqual(Charge.invoiced_until_of([rental, ending]), {
                rental.id: D(2024, 4, 15), ending.id: D(2024, 4, 10)})

    @with_transaction()
    def test_run_skips_account_it_cannot_invoice(self):
        """A customer without an address is skipped with its reason, the
        others billed; once it has one the next run bills its calls"""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Run = pool.get('telecom.billing.run')
        Address = pool.get('party.address')
        t = create_rating(create_tenancy())
        other = create_customer(
            "R1 Other", t.r1, rate_plans=[('add', [t.r1_plan.id])])
        Address.create([{'party': t.r1_customer.party.id}])
        create_usage_product(t.r1)
        # Each call: 0.268 (test_claim_late_call_rerating_release), 0.27.
        Cdr.ingest([
                cdr(t.r1_customer, 'a1', '447700900123',
                    dt.datetime(2024, 1, 10, 9), 95),
                cdr(other, 'b1', '447700900124',
                    dt.datetime(2024, 1, 11, 9), 95)])
        Cdr.rate_unrated()

        january = Run.bill(t.r1, D(2024, 1, 1), D(2024, 1, 31))
        invoice, = january.invoices
        self.assertEqual(invoice.telecom_account, t.r1_customer)
        self.assertEqual(invoice.untaxed_amount, Decimal('0.27'))
        self.assertEqual(january.calls, 1)
        self.assertEqual(january.skipped,
            f'{other.rec_name}: Cannot invoice account "{other.rec_name}": '
            'its customer "R1 Other" has no address. Add its address; the '
            'next run invoices it.')
        b1, = Cdr.search([('call_id', '=', 'b1')])
        self.assertFalse(b1.invoiced)

        Address.create([{'party': other.party.id}])
        february = Run.bill(t.r1, D(2024, 2, 1), D(2024, 2, 29))
        invoice, = february.invoices
        self.assertEqual(invoice.telecom_account, other)
        self.assertEqual(invoice.untaxed_amount, Decimal('0.27'))
        self.assertEqual(february.calls, 1)
        self.assertFalse(february.skipped)
        self.assertTrue(Cdr(b1.id).invoiced)


del ModuleTestCase
