import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.telecom_billing.tests.tools import create_books
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy)
from trytond.modules.telecom_payment.tests.tools import (
    add_prepaid_books_to_chart, total)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

TOMORROW = dt.date.today() + dt.timedelta(days=1)


class TelecomAffiliateTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_affiliate module"
    module = 'telecom_affiliate'

    @with_transaction()
    def test_prepaid_affiliate(self):
        """A prepaid affiliate's balance is credited when a share is due,
        once, and the credit booked as the commission's expense; the
        tenant's pending movements of every kind are posted"""
        pool = Pool()
        Account = pool.get('account.account')
        Address = pool.get('party.address')
        Affiliation = pool.get('telecom.affiliation')
        BalanceLine = pool.get('telecom.balance.line')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        Template = pool.get('product.template')
        TelecomAccount = pool.get('telecom.account')
        Uom = pool.get('product.uom')
        Category = pool.get('product.category')
        t = create_tenancy()
        owner = t.owner
        referred = t.owner_customer
        affiliate = create_customer(
            "Prepaid Partner", owner, billing_mode='prepaid')
        Address.create([{'party': a.party.id}
                for a in [referred, affiliate]])
        unit, = Uom.search([('name', '=', 'Unit')])
        revenue, fiscalyear = create_books(owner)
        with set_company(owner):
            books = add_prepaid_books_to_chart(owner)
            expense, = Account.search([('type.expense', '=', True),
                    ('closed', '!=', True), ('company', '=', owner.id)],
                limit=1)
            # No expense account yet: the credit cannot be booked.
            category, = Category.create([{'name': "Services",
                        'accounting': True, 'account_revenue': revenue.id}])
            template, = Template.create([{'name': "Trunk",
                        'type': 'service', 'default_uom': unit.id,
                        'list_price': Decimal(0),
                        'account_category': category.id,
                        'products': [('create', [{}])]}])
            product = template.products[0]
            affiliation, = Affiliation.create([{
                        'company': owner.id, 'affiliate': affiliate.id,
                        'referred': referred.id,
                        'percentage': Decimal('12.5'),
                        'product': product.id,
                        'start_date': dt.date(2000, 1, 1)}])

            def invoice(account, quantity, unit_price):
                invoice = Invoice(company=owner, type='out',
                    party=account.party, telecom_account=account,
                    invoice_address=account.party.addresses[0],
                    currency=t.currency,
                    account=account.party.account_receivable_used,
                    invoice_date=dt.date.today())
                invoice.set_journal()
                invoice.lines = [InvoiceLine(
                        type='line', product=product, quantity=quantity,
                        unit=unit, unit_price=unit_price, account=revenue,
                        description="Trunk")]
                invoice.save()
                return invoice

            # The affiliate's own movements of the day: a top-up, two
            # calls as rating writes them, its invoice of 10.00 paid from
            # the balance (posted at once by the settlement).
            BalanceLine.add_movements([
                    {'account': affiliate.id, 'kind': 'topup',
                        'amount': Decimal('20')},
                    {'account': affiliate.id, 'kind': 'call',
                        'amount': Decimal('-0.123456')},
                    {'account': affiliate.id, 'kind': 'call',
                        'amount': Decimal('-1.000004')}])
            Invoice.settle_from_balance([invoice(affiliate, 1, 10)])
            referred_invoice = invoice(referred, 3, Decimal('13.33'))
            Invoice.post([referred_invoice])

        # 12.5 % of 3 × 13.33 = 39.99 is 4.99875, to the cent 5.00.
        self.assertEqual(referred_invoice.agent, affiliation.agent)
        movement, = BalanceLine.search([('kind', '=', 'affiliate')])
        self.assertEqual(movement.amount, Decimal('5.00'))
        self.assertEqual(movement.account, affiliate)
        Affiliation.credit_prepaid([referred_invoice])
        self.assertEqual(
            BalanceLine.search([('kind', '=', 'affiliate')], count=True), 1)
        # Ledger: 20 − 0.123456 − 1.000004 − 10 + 5 = 13.87654.
        self.assertEqual(
            TelecomAccount(affiliate.id).balance, Decimal('13.87654'))

        # The cron posts the rest and names the credit it cannot book.
        with self.assertLogs('trytond.modules.telecom_payment.balance',
                'ERROR') as logs:
            BalanceLine.post_pending(until=TOMORROW)
        self.assertIn(f'movements {movement.id} (affiliate)', logs.output[0])
        self.assertIsNone(BalanceLine(movement.id).move)
        with set_company(owner):
            Category.write([category], {'account_expense': expense.id})
        BalanceLine.post_pending(until=TOMORROW)

        lines = BalanceLine.search([('account', '=', affiliate.id)])
        self.assertEqual(sorted(l.kind for l in lines),
            ['affiliate', 'call', 'call', 'invoice', 'topup'])
        self.assertEqual({l.move.state for l in lines if l.move}, {'posted'})
        self.assertEqual([l.kind for l in lines if not l.move], [])
        settlement, = [l for l in lines if l.kind == 'invoice']
        self.assertEqual(settlement.move.origin.telecom_account, affiliate)
        # Books: the settlement −10.00, the top-up +20.00, the calls
        # round(8.87654) − 10.00 = −1.12, the credit round(13.87654) −
        # 8.88 = +5.00: 13.88, the ledger to the cent.
        party = affiliate.party
        self.assertEqual(total(books['prepaid_account'], party),
            Decimal('13.88'))
        credit, = [l for l in lines if l.kind == 'affiliate']
        self.assertEqual(
            sorted((l.account, l.debit, l.credit)
                for l in credit.move.lines),
            sorted([(expense, Decimal('5.00'), Decimal(0)),
                    (books['prepaid_account'], Decimal(0),
                        Decimal('5.00'))]))
        self.assertEqual(total(expense), Decimal('-5.00'))
        self.assertEqual(
            total(books['call_revenue_account']), Decimal('1.12'))
        self.assertEqual(total(books['topup_account']), Decimal('-20.00'))
        # The invoices' revenue, 10.00 + 39.99; the affiliate owes nothing.
        self.assertEqual(total(revenue), Decimal('49.99'))
        self.assertEqual(total(party.account_receivable_used, party),
            Decimal(0))

    @with_transaction()
    def test_bad_input_and_tenancy(self):
        "Bad affiliations are refused; a reseller sees its own only"
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        Agent = pool.get('commission.agent')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        t = create_tenancy()
        unit, = Uom.search([('name', '=', 'Unit')])
        with set_company(t.owner):
            template, = Template.create([{'name': "Credits",
                        'type': 'service', 'default_uom': unit.id,
                        'list_price': Decimal(0),
                        'products': [('create', [{}])]}])
        product = template.products[0]
        r1_partner = create_customer("R1 Partner", t.r1)
        r1_other = create_customer("R1 Other", t.r1)

        def affiliation(company, affiliate, referred, percentage=10):
            return {'company': company.id, 'affiliate': affiliate.id,
                'referred': referred.id, 'percentage': Decimal(percentage),
                'product': product.id, 'start_date': dt.date(2024, 1, 1)}

        r1_share, = Affiliation.create(
            [affiliation(t.r1, r1_partner, t.r1_customer)])
        Affiliation.create(
            [affiliation(t.owner, t.owner_customer, t.r1_account)])
        with as_user(t.r1_user):
            self.assertEqual(Affiliation.search([]), [r1_share])
        with as_user(t.r2_user):
            self.assertEqual(Affiliation.search([]), [])

        for values, message in [
                (affiliation(t.r1, r1_partner, t.r1_customer, 101),
                    'must be above 0 and at most 100 percent, not 101'),
                (affiliation(t.r1, r1_partner, t.r1_customer, -1),
                    'must be above 0 and at most 100 percent, not -1'),
                (affiliation(t.r1, r1_partner, r1_partner),
                    'cannot be its own affiliate'),
                # Another tenant's customer.
                (affiliation(t.r1, r1_partner, t.r3_customer),
                    'is not a customer of Reseller One'),
                # One share of an account at a time.
                (affiliation(t.r1, r1_other, t.r1_customer, 5),
                    'already shares its revenue with ".*R1 Partner"'),
                ]:
            with self.assertRaisesRegex(UserError, message):
                Affiliation.create([values])
        # Refused before its commission plan and agent are made (the
        # caller's transaction, rolled back on the error, undoes the rest).
        self.assertEqual(Agent.search([], count=True), 2)


del ModuleTestCase
