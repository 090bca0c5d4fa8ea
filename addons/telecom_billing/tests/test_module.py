import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_tenancy)
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

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


del ModuleTestCase
