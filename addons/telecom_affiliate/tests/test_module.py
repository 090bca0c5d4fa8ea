import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.telecom_billing.tests.tools import create_books
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class TelecomAffiliateTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_affiliate module"
    module = 'telecom_affiliate'

    @with_transaction()
    def test_prepaid_affiliate(self):
        "A prepaid affiliate's balance is credited when a share is due, once"
        pool = Pool()
        Address = pool.get('party.address')
        Affiliation = pool.get('telecom.affiliation')
        BalanceLine = pool.get('telecom.balance.line')
        Invoice = pool.get('account.invoice')
        Template = pool.get('product.template')
        TelecomAccount = pool.get('telecom.account')
        Uom = pool.get('product.uom')
        Category = pool.get('product.category')
        t = create_tenancy()
        owner = t.owner
        referred = t.owner_customer
        affiliate = create_customer(
            "Prepaid Partner", owner, billing_mode='prepaid')
        Address.create([{'party': referred.party.id}])
        unit, = Uom.search([('name', '=', 'Unit')])
        revenue, fiscalyear = create_books(owner)
        with set_company(owner):
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
            invoice = Invoice(company=owner, type='out',
                party=referred.party,
                invoice_address=referred.party.addresses[0],
                currency=t.currency,
                account=referred.party.account_receivable_used,
                invoice_date=fiscalyear.start_date)
            invoice.set_journal()
            invoice.lines = [pool.get('account.invoice.line')(
                    type='line', product=product, quantity=3, unit=unit,
                    unit_price=Decimal('13.33'), account=revenue,
                    description="Trunk")]
            invoice.save()
            Invoice.post([invoice])

        # 12.5 % of 3 × 13.33 = 39.99 is 4.99875, to the cent 5.00.
        self.assertEqual(invoice.agent, affiliation.agent)
        movement, = BalanceLine.search([('kind', '=', 'affiliate')])
        self.assertEqual(movement.amount, Decimal('5.00'))
        self.assertEqual(movement.account, affiliate)
        self.assertEqual(TelecomAccount(affiliate.id).balance, Decimal('5.00'))
        Affiliation.credit_prepaid([invoice])
        self.assertEqual(
            BalanceLine.search([('kind', '=', 'affiliate')], count=True), 1)

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
