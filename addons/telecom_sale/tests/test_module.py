import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.telecom_billing.tests.tools import create_books
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_tenancy)
from trytond.modules.telecom_payment.tests.tools import (
    add_prepaid_books_to_chart, total)
from trytond.modules.telecom_rating.tests.tools import create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

TOMORROW = dt.date.today() + dt.timedelta(days=1)


def create_shop(t, vat=None):
    """Add to tenancy ``t``: Reseller One's and Sub Reseller Two's charts,
    a bundle for minute packs on their retail plans, and their products:
    a phone (49.90), a monthly hosted PBX (12.00), a 100-minute UK mobile
    pack (5.00) and a package of 2 concurrent calls (3.00 a month); the
    owner sells a phone of its own. The products of company ``vat`` bear
    the 20 % VAT of its chart (``t.vat``); the others no tax."""
    pool = Pool()
    Address = pool.get('party.address')
    Bundle = pool.get('telecom.bundle')
    Category = pool.get('product.category')
    Tax = pool.get('account.tax')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')])
    Address.create([{'party': a.party.id}
            for a in [t.r1_customer, t.r2_customer]])
    for plan in [t.r1_plan, t.r2_plan]:
        Bundle.create([{'plan': plan.id, 'name': "UK mobile packs",
                    'minutes': 0, 'groups': [('add', [t.uk_mobile.id])]}])

    def product(name, price, **values):
        template, = Template.create([{
                    'name': name, 'type': 'service', 'default_uom': unit.id,
                    'sale_uom': unit.id,
                    'salable': True, 'list_price': price,
                    'account_category': category.id,
                    'products': [('create', [{}])], **values}])
        return template.products[0]

    for company in [t.owner, t.r1, t.r2]:
        revenue, _ = create_books(company, tax=company == vat)
        with set_company(company):
            taxes = []
            if company == vat:
                t.vat, = taxes = Tax.search([('company', '=', company.id)])
            category, = Category.create([{
                        'name': f"Sales {company.rec_name}",
                        'accounting': True, 'account_revenue': revenue.id,
                        'customer_taxes': [('add', [x.id for x in taxes])],
                        }])
            prefix = {t.owner: 'owner', t.r1: 'r1', t.r2: 'r2'}[company]
            setattr(t, f'{prefix}_phone', product(
                    "Desk phone", Decimal('49.90'), telecom_kind='phone',
                    telecom_recurrence='once'))
            if company == t.owner:
                continue
            setattr(t, f'{prefix}_pbx', product(
                    "Hosted PBX", Decimal('12.00'), telecom_kind='service',
                    telecom_recurrence='monthly'))
            setattr(t, f'{prefix}_pack', product(
                    "UK mobile 100", Decimal('5.00'),
                    telecom_kind='minute_pack', telecom_recurrence='once',
                    pack_minutes=100,
                    pack_groups=[('add', [t.uk_mobile.id])]))
            setattr(t, f'{prefix}_calls', product(
                    "2 extra calls", Decimal('3.00'),
                    telecom_kind='concurrent_calls',
                    telecom_recurrence='monthly', extra_calls=2))
    return t


def pack_seconds(account):
    "The seconds credited to ``account``'s pack bundle this month"
    pool = Pool()
    Balance = pool.get('telecom.bundle.balance')
    return sum(b.current for b in Balance.search([
                ('account', '=', account.id),
                ('bundle.name', '=', "UK mobile packs")]))


class TelecomSaleTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_sale module"
    module = 'telecom_sale'
    _telecom_not_tenant = TelecomCompanyTestMixin._telecom_not_tenant | {
        # Who sells the product; its rule (like the party's) lets the
        # owner see the products made by the system, without tenant.
        ('product.template', 'tenant'),
        }

    @with_transaction()
    def test_order_postpaid(self):
        "A postpaid order: invoice, subscriptions, package, pack paid once"
        pool = Pool()
        Shop = pool.get('telecom.shop')
        Invoice = pool.get('account.invoice')
        Subscription = pool.get('telecom.subscription')
        Credit = pool.get('telecom.minute_pack.credit')
        Date = pool.get('ir.date')
        t = create_shop(create_rating(create_tenancy()))
        customer = t.r1_customer

        self.assertEqual(
            [p.rec_name for p in Shop.products(customer)],
            ["2 extra calls", "Desk phone", "Hosted PBX", "UK mobile 100"])
        sale = Shop.order(customer, [
                (t.r1_phone, 2), (t.r1_pack, 1), (t.r1_pbx, 1),
                (t.r1_calls, 1)])
        self.assertEqual(sale.company, t.r1)
        self.assertEqual(sale.state, 'processing')
        # 2 × 49.90 + 5.00 + 12.00 (a month) + 3.00 (a month)
        self.assertEqual(sale.total_amount, Decimal('119.80'))
        # The sale invoices the one-off products; runs the recurring ones.
        invoice, = sale.invoices
        self.assertEqual(invoice.untaxed_amount, Decimal('104.80'))
        self.assertEqual(
            sorted((l.product.rec_name, l.quantity) for l in invoice.lines),
            [("Desk phone", 2), ("UK mobile 100", 1)])
        subscriptions = Subscription.search([('account', '=', customer.id)])
        self.assertEqual(
            sorted((s.product.rec_name, s.unit_price, s.start_date,
                    s.charge.recurrence, s.charge.amount)
                for s in subscriptions),
            [("2 extra calls", Decimal('3.00'), Date.today(), 'monthly',
                Decimal('3.00')),
                ("Hosted PBX", Decimal('12.00'), Date.today(), 'monthly',
                    Decimal('12.00'))])
        # Processing again makes no second subscription.
        pool.get('sale.sale').process([sale])
        self.assertEqual(Subscription.search(
                [('account', '=', customer.id)], count=True), 2)

        # The package raises the concurrency limits while it lasts.
        self.assertEqual(customer.extra_calls, 2)
        package, = [s for s in subscriptions if s.product == t.r1_calls]
        Subscription.write([package], {'quantity': 3})
        self.assertEqual(type(customer)(customer.id).extra_calls, 6)
        Subscription.write([package], {
                'end_date': Date.today() - dt.timedelta(days=1),
                'start_date': Date.today() - dt.timedelta(days=10)})
        self.assertEqual(type(customer)(customer.id).extra_calls, 0)

        # The pack is credited when the invoice is paid, and only once.
        self.assertEqual(pack_seconds(customer), 0)
        Invoice.post([invoice])
        self.assertEqual(pack_seconds(customer), 0)
        Invoice.paid([invoice])
        self.assertEqual(pack_seconds(customer), 6000)
        Credit.credit_invoices([invoice])
        self.assertEqual(pack_seconds(customer), 6000)
        credit, = Credit.search([])
        self.assertEqual(credit.origin.origin.sale, sale)

    @with_transaction()
    def test_order_prepaid(self):
        """A prepaid order: invoiced with its taxes, posted and paid from
        the balance at once, in the books; a short balance refused"""
        pool = Pool()
        Shop = pool.get('telecom.shop')
        Sale = pool.get('sale.sale')
        Invoice = pool.get('account.invoice')
        BalanceLine = pool.get('telecom.balance.line')
        Account = pool.get('telecom.account')
        Credit = pool.get('telecom.minute_pack.credit')
        Template = pool.get('product.template')
        Queue = pool.get('ir.queue')
        t = create_rating(create_tenancy())
        create_shop(t, vat=t.r2)
        customer = t.r2_customer
        Product = pool.get('product.product')
        Uom = pool.get('product.uom')
        unit, = Uom.search([('name', '=', 'Unit')])
        with set_company(t.r2):
            books = add_prepaid_books_to_chart(t.r2)
            Template.write([t.r2_phone.template],
                {'list_price': Decimal('100.00')})
            # A product that is not a telecom one (the usage product of
            # the billing runs): nothing telecom to fill in.
            Template.create([{'name': "Calls", 'type': 'service',
                        'default_uom': unit.id, 'list_price': Decimal(0),
                        'products': [('create', [{}])]}])
        self.assertEqual(
            [p.rec_name for p in Shop.products(customer)],
            ["Desk phone", "UK mobile 100"])
        # As the portal shows them: 100.00 + 20 % VAT, 5.00 + 20 % VAT.
        self.assertEqual(
            [(p.rec_name, price, taxed)
                for p, price, taxed in Shop.offers(customer)],
            [("Desk phone", Decimal('100.00'), Decimal('120.00')),
                ("UK mobile 100", Decimal('5.00'), Decimal('6.00'))])
        BalanceLine.add_movements([{'account': customer.id, 'kind': 'topup',
                    'amount': Decimal('125.00')}])
        # As the portal orders: no company in the context, the products
        # read there (a list price is a company value, unread there).
        order = [(Product(t.r2_phone.id), 1), (Product(t.r2_pack.id), 1)]

        # Phone 100.00 + pack 5.00 = 105.00, VAT 20 % 21.00: 126.00 is
        # above the 125.00 held (105.00 before tax is not): refused.
        with self.assertRaisesRegex(UserError,
                r'balance of account ".*R2 Customer" is 125\.00 EUR and '
                r'the order costs 126\.00 EUR: top up first'):
            Shop.order(customer, order)
        self.assertEqual(Sale.search([], count=True), 0)
        self.assertEqual(Invoice.search([], count=True), 0)
        self.assertEqual(BalanceLine.search([], count=True), 1)
        with self.assertRaisesRegex(UserError, 'Prepaid account .* cannot '
                'subscribe to "Hosted PBX"'):
            Shop.order(customer, [(t.r2_pbx, 1)])

        BalanceLine.add_movements([{'account': customer.id, 'kind': 'topup',
                    'amount': Decimal('5.00')}])
        sale = Shop.order(customer, order)

        invoice, = sale.invoices
        self.assertEqual(invoice.state, 'paid')
        self.assertEqual(invoice.telecom_account, customer)
        self.assertEqual(
            (invoice.untaxed_amount, invoice.tax_amount,
                invoice.total_amount),
            (Decimal('105.00'), Decimal('21.00'), Decimal('126.00')))
        # Debited once, by the invoice's settlement: 130.00 − 126.00.
        self.assertEqual(Account(customer.id).balance, Decimal('4.00'))
        movement, = BalanceLine.search([('kind', '=', 'invoice')])
        self.assertEqual(movement.amount, Decimal('-126.00'))
        self.assertEqual(movement.origin, invoice)
        self.assertEqual(movement.move.state, 'posted')
        self.assertEqual(BalanceLine.search([('kind', '=', 'purchase')]), [])
        # The pack credited once, when the invoice was paid.
        self.assertEqual(pack_seconds(customer), 6000)
        Credit.credit_invoices([invoice])
        self.assertEqual(pack_seconds(customer), 6000)
        self.assertEqual(Credit.search([], count=True), 1)
        # Its e-mail waits for the commit, in the queue.
        task, = [q for q in Queue.search([])
            if q.data['method'] == 'telecom_send_posted']
        self.assertEqual(list(task.data['instances']), [invoice.id])

        # The books, once the top-ups are posted: the liability is the
        # ledger (130.00 − 126.00), the phone and the pack's revenue and
        # their VAT credited, nothing left to receive.
        BalanceLine.post_pending(until=TOMORROW)
        party = customer.party
        self.assertEqual(total(books['prepaid_account'], party),
            Decimal('4.00'))
        with set_company(t.r2):
            revenue = t.r2_phone.account_revenue_used
        self.assertEqual(total(revenue), Decimal('105.00'))
        self.assertEqual(total(t.vat.invoice_account), Decimal('21.00'))
        self.assertEqual(total(invoice.account, party), Decimal('0'))
        self.assertEqual(total(books['topup_account']), Decimal('-130.00'))

    @with_transaction()
    def test_bad_input(self):
        "Bad orders and subscriptions are refused, nothing changed"
        pool = Pool()
        Shop = pool.get('telecom.shop')
        Sale = pool.get('sale.sale')
        Subscription = pool.get('telecom.subscription')
        Charge = pool.get('telecom.account.charge')
        Template = pool.get('product.template')
        t = create_shop(create_rating(create_tenancy()))
        customer = t.r1_customer

        for quantity in [0, -1, 1.5]:
            with self.assertRaisesRegex(UserError,
                    'Cannot sell "Desk phone" to account ".*R1 Customer": the '
                    'quantity must be a whole number above zero'):
                Shop.order(customer, [(t.r1_phone, quantity)])
        # Another tenant's product, its parent's or a sibling's.
        for product in [t.owner_phone, t.r2_phone]:
            with self.assertRaisesRegex(UserError,
                    'Account ".*R1 Customer" cannot buy "Desk phone": it is '
                    "not a product of the account's provider"):
                Shop.order(customer, [(product, 1)])
            with self.assertRaisesRegex(UserError, 'cannot buy'):
                Subscription.create([{'account': customer.id,
                            'product': product.id, 'quantity': 1,
                            'unit_price': Decimal(1),
                            'currency': t.currency.id}])
        with self.assertRaisesRegex(UserError,
                'Cannot sell "Hosted PBX" to account ".*R1 Customer" at a '
                r'negative price \(-1'):
            Subscription.create([{'account': customer.id,
                        'product': t.r1_pbx.id, 'quantity': 1,
                        'unit_price': Decimal(-1),
                        'currency': t.currency.id}])
        # A pack the account's plans could never spend.
        Group = pool.get('telecom.destination.group')
        uk, = Group.create([{'code': 'uk', 'name': "UK",
                    'prefixes': [('create', [{'prefix': '44'}])]}])
        with set_company(t.r1):
            uk_pack, = Template.copy([t.r1_pack.template], default={
                    'name': "UK 100", 'pack_groups': [uk.id]})
        with self.assertRaisesRegex(UserError,
                'Account ".*R1 Customer" cannot use minute pack "UK 100": '
                'none of its rate plans has a bundle on exactly UK'):
            Shop.order(customer, [(uk_pack.products[0], 1)])
        # Orders are checked before anything is written; a subscription
        # is refused before its charge is made (and the caller's
        # transaction, rolled back on the error, undoes the rest).
        self.assertEqual(Sale.search([], count=True), 0)
        self.assertEqual(Charge.search([], count=True), 0)

    @with_transaction()
    def test_tenancy(self):
        "A reseller sees and sells its own subtree's products only"
        pool = Pool()
        Shop = pool.get('telecom.shop')
        Product = pool.get('product.product')
        t = create_shop(create_rating(create_tenancy()))
        with as_user(t.r2_user):
            self.assertEqual(
                {p.id for p in Product.search([])},
                {t.r2_phone.id, t.r2_pbx.id, t.r2_pack.id, t.r2_calls.id})
            with self.assertRaisesRegex(UserError,
                    'You cannot order for account ".*R1 Customer"'):
                Shop.order(t.r1_customer, [(t.r1_phone, 1)])
        with as_user(t.r1_user):
            self.assertEqual(
                {p.id for p in Product.search([])},
                {t.r1_phone.id, t.r1_pbx.id, t.r1_pack.id, t.r1_calls.id,
                    t.r2_phone.id, t.r2_pbx.id, t.r2_pack.id, t.r2_calls.id})
            self.assertNotIn(t.owner_phone, Shop.products(t.r1_customer))


del ModuleTestCase
