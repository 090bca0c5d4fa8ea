"""Numbers billed in advance, pro-rated, at every tenant level; worked out
by hand."""
import datetime as dt
from decimal import Decimal

from trytond.modules.telecom_base.tests.tools import (
    DatabaseTestCase, create_tenancy)
from trytond.modules.telecom_billing.tests.database import (
    create_usage_product)
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

D = dt.date


def inbound_plan(company, currency, name, mobile, fixed):
    "An inbound plan pricing calls by their origin, per minute"
    Plan = Pool().get('telecom.rate.plan')
    plan, = Plan.create([{
                'name': name, 'company': company.id,
                'currency': currency.id, 'decimals': 4,
                'direction': 'inbound',
                'rates': [('create', [
                            {'prefix': '44', 'destination': "UK fixed",
                                'price': Decimal(fixed)},
                            {'prefix': '447', 'destination': "UK mobile",
                                'price': Decimal(mobile)},
                            ])]}])
    return plan


class NumberBillingTestCase(DatabaseTestCase):
    "Test the billing of numbers"
    module = 'telecom_number'

    @with_transaction()
    def test_number_month_by_month(self):
        """A number assigned on the 10th: setup, the rest of the month and
        the next month in advance; released on the 15th: the rest of that
        month credited; inbound minutes from a mobile and a fixed line;
        the owner bills the reseller the same way at its own price"""
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        NumberPrice = pool.get('telecom.number.price')
        Account = pool.get('telecom.account')
        Address = pool.get('party.address')
        Configuration = pool.get('telecom.billing.configuration')
        Cdr = pool.get('telecom.cdr')
        Run = pool.get('telecom.billing.run')
        t = create_rating(create_tenancy())
        Address.create([{'party': a.party.id}
                for a in [t.r1_account, t.r1_customer]])
        products = {}
        for company in [t.owner, t.r1]:
            create_usage_product(company, fiscal_year=D(2024, 1, 1))
            products[company] = Configuration(1).get_multivalue(
                'usage_product', company=company.id)
        owner_inbound = inbound_plan(
            t.owner, t.currency, "Owner inbound", '0.0200', '0.0060')
        r1_inbound = inbound_plan(
            t.r1, t.currency, "R1 inbound", '0.0300', '0.0100')
        Account.write([t.r1_account], {
                'rate_plans': [('add', [owner_inbound.id])]})
        Account.write([t.r1_customer], {
                'rate_plans': [('add', [r1_inbound.id])]})
        NumberPrice.create([{
                    'company': t.owner.id, 'plan': t.owner_plan.id,
                    'setup_fee': Decimal('3.00'), 'price': Decimal('6.00'),
                    'currency': t.currency.id,
                    'product': products[t.owner].id}, {
                    'company': t.r1.id, 'plan': t.r1_plan.id,
                    'setup_fee': Decimal('5.00'), 'price': Decimal('10.00'),
                    'currency': t.currency.id,
                    'product': products[t.r1].id}])

        Number.import_file(t.owner, b"number\n442079460000\n")
        sold, = Number.search([])
        Number.assign_to([sold], t.r1_account, D(2024, 3, 5))
        bought, = Number.search([('company', '=', t.r1.id)])
        # The reseller's buying costs are its parent's price.
        self.assertEqual((bought.setup_cost, bought.monthly_cost),
            (Decimal('3.00'), Decimal('6.00')))
        Number.assign_to([bought], t.r1_customer, D(2024, 3, 10))

        Cdr.ingest([
                cdr(t.r1_customer, 'in-mobile', '442079460000',
                    dt.datetime(2024, 3, 12, 9), 120,
                    caller='447700900123', direction='inbound'),
                cdr(t.r1_customer, 'in-fixed', '442079460000',
                    dt.datetime(2024, 3, 13, 9), 300,
                    caller='442071234567', direction='inbound'),
                ])
        self.assertEqual(Cdr.rate_unrated(), (2, 0))

        def lines(invoice):
            return sorted((l.telecom_kind, l.telecom_period_start,
                    l.telecom_period_end, l.amount)
                for l in invoice.lines)

        owner_march = Run.bill(t.owner, D(2024, 3, 1), D(2024, 3, 31))
        r1_march = Run.bill(t.r1, D(2024, 3, 1), D(2024, 3, 31))
        invoice, = r1_march.invoices
        self.assertEqual(invoice.telecom_account, t.r1_customer)
        # Setup 5.00; March 10-31 is 22 of 31 days: 10 × 22 / 31 =
        # 7.0967… → 7.10; April in advance 10.00; inbound 2 min from a
        # mobile at 0.03 = 0.06 and 5 min from a fixed line at 0.01 = 0.05.
        number_lines = [l for l in lines(invoice) if l[0] != 'usage']
        self.assertEqual(number_lines, [
                ('number', D(2024, 3, 10), D(2024, 3, 31), Decimal('7.10')),
                ('number', D(2024, 4, 1), D(2024, 4, 30), Decimal('10.00')),
                ('number_setup', D(2024, 3, 10), D(2024, 3, 10),
                    Decimal('5.00')),
                ])
        usage = sum(l.amount for l in invoice.lines
            if l.telecom_kind == 'usage')
        self.assertEqual(usage, Decimal('0.11'))
        self.assertEqual(invoice.untaxed_amount, Decimal('22.21'))
        described = [l.description for l in invoice.lines
            if l.telecom_kind == 'number']
        self.assertTrue(all('+442079460000' in d for d in described))
        self.assertIn('22/31 days', ' '.join(described))

        invoice, = owner_march.invoices
        self.assertEqual(invoice.telecom_account, t.r1_account)
        # Setup 3.00; March 5-31 is 27 of 31 days: 6 × 27 / 31 = 5.2258…
        # → 5.23; April 6.00; inbound 2 min at 0.02 = 0.04 and 5 min at
        # 0.006 = 0.03.
        self.assertEqual([l for l in lines(invoice) if l[0] != 'usage'], [
                ('number', D(2024, 3, 5), D(2024, 3, 31), Decimal('5.23')),
                ('number', D(2024, 4, 1), D(2024, 4, 30), Decimal('6.00')),
                ('number_setup', D(2024, 3, 5), D(2024, 3, 5),
                    Decimal('3.00')),
                ])
        self.assertEqual(invoice.untaxed_amount, Decimal('14.30'))

        # The customer gives the number back on 15 April.
        Number.release([bought], D(2024, 4, 15))
        owner_april = Run.bill(t.owner, D(2024, 4, 1), D(2024, 4, 30))
        r1_april = Run.bill(t.r1, D(2024, 4, 1), D(2024, 4, 30))
        invoice, = r1_april.invoices
        # April 16-30, 15 of 30 days billed in advance: 10 × 15 / 30.
        self.assertEqual(lines(invoice), [
                ('number', D(2024, 4, 16), D(2024, 4, 30), Decimal('-5.00')),
                ])
        self.assertIn('released', invoice.lines[0].description)
        # The reseller still holds it (in quarantine): May in advance.
        invoice, = owner_april.invoices
        self.assertEqual(lines(invoice), [
                ('number', D(2024, 5, 1), D(2024, 5, 31), Decimal('6.00')),
                ])

        # Nothing more for the customer's number, nothing twice.
        r1_may = Run.bill(t.r1, D(2024, 5, 1), D(2024, 5, 31))
        self.assertFalse(r1_may.invoices)
