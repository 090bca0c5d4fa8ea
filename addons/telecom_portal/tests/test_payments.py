"""The portal's pages of the optional modules, over HTTP: top-ups by
PayPal the Braintree way, SEPA direct-debit mandates and voucher batches
(telecom_payment), concurrent-call limits (telecom_switch), the shop behind
the tenant wall (telecom_sale, which needs the other two: one module set).

telecom_payment and account_payment_braintree run unchanged; Braintree's
sandbox is telecom_payment's local stand-in (tests/braintree_sandbox.py):
only the HTTP boundary is replaced. The customer is Sub Reseller Two's
prepaid residential account; its tenant collects top-ups through a PayPal
journal on a sandbox merchant account that settles at once."""
import csv
import datetime as dt
import io
import re
from decimal import Decimal
from http import HTTPStatus
from unittest.mock import patch

from trytond.modules.telecom_base.tests.tools import create_tenancy
from trytond.modules.telecom_payment.tests.braintree_sandbox import Sandbox
from trytond.modules.telecom_payment.tests.tools import create_prepaid_books
from trytond.pool import Pool
from trytond.transaction import Transaction

from ..web import views_signup
from .test_portal import ADDRESS, PASSWORD, PortalClientCase, csrf_of

APPROVE = 'fake-paypal-one-time-nonce'
DECLINE = 'fake-processor-declined-visa-nonce'


def checkout_of(body):
    "The checkout id and client token of a rendered top-up form"
    checkout = re.search(r'name="checkout_id" value="([0-9a-f]+)"', body)
    token = re.search(r'data-client-token="([^"]+)"', body)
    return checkout.group(1), token.group(1)


class PaymentPortalTestCase(PortalClientCase):
    "Test the portal's payment, call-control and shop pages"
    # With telecom_payment and telecom_switch, which it depends on.
    extras = ['telecom_sale']

    @classmethod
    def setUpClass(cls):
        cls.sandbox = Sandbox().__enter__()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sandbox.__exit__(None, None, None)

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        WebUser = pool.get('web.user')
        Merchant = pool.get('account.payment.braintree.account')
        Journal = pool.get('account.payment.journal')
        t = create_tenancy()
        # The country of sign-ups' addresses.
        pool.get('country.country').create([
                {'name': "United Kingdom", 'code': 'GB'}])
        books = {t.r2: create_prepaid_books(t.r2)}
        merchant, = Merchant.create([{
                    'name': "R2 Braintree", 'environment': 'sandbox',
                    'currency': t.currency.id, 'merchant_id': 'r2-merchant',
                    'public_key': 'public', 'private_key': 'private',
                    'sandbox_settle_transaction': True}])
        Journal.create([{
                    'name': "PayPal", 'company': t.r2.id,
                    'currency': t.currency.id, 'process_method': 'braintree',
                    'braintree_account': merchant.id}])
        Brand = pool.get('telecom.brand')
        Plan = pool.get('telecom.rate.plan')
        Brand.create([{'name': "Two Talk", 'company': t.r2.id,
                    'default': True, 'host_names': 'two.portal.test'}])
        plan, = Plan.create([{'name': "Two Home", 'company': t.r2.id,
                    'currency': t.currency.id, 'signup': True}])
        WebUser.create([{
                    'email': 'rita@example.com', 'password': PASSWORD,
                    'email_valid': True,
                    'telecom_account': t.r2_customer.id}, {
                    'email': 'otto@example.com', 'password': PASSWORD,
                    'email_valid': True,
                    'telecom_account': t.owner_customer.id}, {
                    'email': 'rex@example.com', 'password': PASSWORD,
                    'email_valid': True, 'reseller': t.r2.id}])
        cls.account_id = t.r2_customer.id
        cls.owner_customer_id = t.owner_customer.id
        cls.plan_id = plan.id
        # The shop: Sub Reseller Two's phone, the owner's phone and monthly
        # service (offered to postpaid customers only).
        books[t.owner] = create_prepaid_books(t.owner)
        Category = pool.get('product.category')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        unit, = Uom.search([('name', '=', 'Unit')])
        cls.products = {}
        for company, name, price, billed in [
                (t.r2, "Two desk phone", '30.00', 'once'),
                (t.owner, "Owner desk phone", '49.00', 'once'),
                (t.owner, "Owner hosted PBX", '12.00', 'monthly')]:
            with Transaction().set_context(company=company.id):
                category, = Category.create([{
                            'name': name, 'accounting': True,
                            'account_revenue': (
                                books[company]['call_revenue_account'].id)}])
                template, = Template.create([{
                            'name': name, 'tenant': company.id,
                            'type': 'service', 'default_uom': unit.id,
                            'sale_uom': unit.id, 'salable': True,
                            'list_price': Decimal(price),
                            'account_category': category.id,
                            'telecom_kind': (
                                'phone' if billed == 'once' else 'service'),
                            'telecom_recurrence': billed,
                            'products': [('create', [{}])]}])
            cls.products[name] = template.products[0].id

    def balance(self):
        with self.db():
            Account = Pool().get('telecom.account')
            return Account(self.account_id).balance

    def payments(self):
        with self.db():
            Payment = Pool().get('account.payment')
            return [(p.state, p.amount, p.telecom_credited)
                for p in Payment.search(
                    [('telecom_account', '=', self.account_id)],
                    order=[('id', 'ASC')])]

    def sales(self):
        "The sales the sandbox was asked for"
        return [r for r in self.sandbox.requests if r[0] == 'POST'
            and r[1].endswith('/transactions')]

    def open_checkout(self, client):
        response = self.get(client, '/top-up')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        return response.get_data(as_text=True)

    def pay(self, client, amount, nonce, checkout_id):
        data = {'amount': amount, 'checkout_id': checkout_id}
        if nonce:
            data['payment_method_nonce'] = nonce
        return self.post(client, '/top-up', data)

    def test_paypal_top_up_credited_once(self):
        """The form carries the gateway's client token; the posted nonce
        becomes a settled sale; the balance is credited once, also when
        the form is sent again and when the pull cron runs after"""
        client = self.sign_in('rita@example.com')
        before = self.balance()
        sales = len(self.sales())
        body = self.open_checkout(client)
        checkout_id, token = checkout_of(body)
        # The Drop-in's client token, as the sandbox made it.
        self.assertTrue(any(r[1].endswith('/client_token')
                for r in self.sandbox.requests))
        self.assertRegex(token, r'^[A-Za-z0-9+/=]{40,}$')
        self.assertIn(f'value="{APPROVE}"', body)

        response = self.pay(client, '25.00', APPROVE, checkout_id)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        self.assertEqual(response.headers['Location'],
            '/account?done=top-up-credited')
        # before + 25.00
        self.assertEqual(self.balance(), before + Decimal('25.00'))
        sale, = self.sales()[sales:]
        self.assertIn('<amount>25.00</amount>', sale[2])
        self.assertIn(f'<payment_method_nonce>{APPROVE}<', sale[2])
        self.assertEqual(self.payments()[-1],
            ('succeeded', Decimal('25.00'), Decimal('25.00')))

        # The same form again (reload, back button): its outcome, no sale.
        response = self.pay(client, '25.00', APPROVE, checkout_id)
        self.assertEqual(response.headers['Location'],
            '/account?done=top-up-credited')
        self.assertEqual(len(self.sales()), sales + 1)
        # The pull cron finds the settled sale: nothing more.
        with self.db() as transaction:
            Payment = Pool().get('account.payment')
            Payment.braintree_pull(Payment.search(
                    [('telecom_account', '=', self.account_id)]))
            transaction.commit()
        self.assertEqual(self.balance(), before + Decimal('25.00'))
        body = self.get(client, '/account?done=top-up-credited').get_data(
            as_text=True)
        self.assertIn('paid and credited', body)

    def test_declined_next_to_the_amount(self):
        "A declined payment is said next to the amount; nothing credited"
        client = self.sign_in('rita@example.com')
        before = self.balance()
        checkout_id, _ = checkout_of(self.open_checkout(client))
        response = self.pay(client, '10.00', DECLINE, checkout_id)
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        error = re.search(r'id="e-amount">([^<]+)<', body).group(1)
        self.assertIn('10.00 EUR was declined: Do Not Honor', error)
        self.assertIn('aria-invalid="true" aria-describedby="e-amount"',
            body)
        self.assertEqual(self.balance(), before)
        self.assertEqual(self.payments()[-1],
            ('failed', Decimal('10.00'), Decimal(0)))
        # A new checkout to try again, not the declined one.
        self.assertNotEqual(checkout_of(body)[0], checkout_id)

    def test_form_errors_next_to_fields(self):
        "No payment method, a damaged form, a bad amount: said by field"
        client = self.sign_in('rita@example.com')
        before, payments = self.balance(), len(self.payments())
        checkout_id, _ = checkout_of(self.open_checkout(client))
        for amount, nonce, checkout, field, text in [
                ('10.00', None, checkout_id, 'payment_method_nonce',
                    'Choose how to pay.'),
                ('10.00', APPROVE, 'not-a-checkout', 'amount',
                    'This form is incomplete'),
                ('0.50', APPROVE, checkout_id, 'amount', 'At least 1'),
                ('10.001', APPROVE, checkout_id, 'amount',
                    'At most 2 decimals'),
                ]:
            with self.subTest(amount=amount, nonce=nonce, field=field):
                response = self.pay(client, amount, nonce, checkout)
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                body = response.get_data(as_text=True)
                self.assertIn(text, re.search(
                        rf'id="e-{field}">([^<]+)<', body).group(1))
        self.assertEqual(self.balance(), before)
        self.assertEqual(len(self.payments()), payments)

    def test_another_accounts_checkout(self):
        """A checkout id of another account's payment, posted by another
        customer, is refused without touching that payment"""
        rita = self.sign_in('rita@example.com')
        checkout_id, _ = checkout_of(self.open_checkout(rita))
        self.pay(rita, '5.00', APPROVE, checkout_id)
        otto = self.sign_in('otto@example.com')
        # Otto's account is postpaid: no top-up form, the post refused.
        body = self.open_checkout(otto)
        self.assertIn('needs no top-up', body)
        self.assertNotIn('checkout_id', body)
        response = self.pay(otto, '5.00', APPROVE, checkout_id)
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('needs no top-up', response.get_data(as_text=True))
        with self.db():
            Payment = Pool().get('account.payment')
            self.assertEqual(Payment.search([
                        ('braintree_checkout_id', '=', checkout_id)],
                    count=True), 1)

    def test_csrf_required(self):
        "A top-up replayed without the form's CSRF token is refused"
        client = self.sign_in('rita@example.com')
        payments = len(self.payments())
        checkout_id, _ = checkout_of(self.open_checkout(client))
        response = self.post(client, '/top-up', {
                'amount': '5.00', 'payment_method_nonce': APPROVE,
                'checkout_id': checkout_id}, token=False)
        self.assertEqual(response.status_code, HTTPStatus.FORBIDDEN)
        self.assertEqual(len(self.payments()), payments)
        self.assertIsNotNone(csrf_of(self.get(client, '/top-up')))

    # --- SEPA direct-debit mandates ----------------------------------------

    def mandates(self, account_id):
        with self.db():
            pool = Pool()
            Account = pool.get('telecom.account')
            Mandate = pool.get('account.payment.sepa.mandate')
            account = Account(account_id)
            return [(m.company.id, m.state, m.account_number.number,
                    m.address.city, m.type, m.scheme)
                for m in Mandate.search(
                    [('party', '=', account.party.id)],
                    order=[('id', 'ASC')])]

    def test_mandate_signed_online(self):
        """A mandate signed online: the IBAN validated, requested with the
        account's tenant as creditor; errors next to their fields"""
        client = self.sign_in('otto@example.com')
        with self.db():
            owner_customer = Pool().get('web.user').search(
                [('email', '=', 'otto@example.com')])[0].telecom_account
            account_id, company_id = owner_customer.id, (
                owner_customer.company.id)
        before = self.mandates(account_id)
        good = {'iban': 'be85 7355 5692 7306', 'street': '1 Rue de la Loi',
            'postal_code': '1000', 'city': 'Bruxelles', 'consent': 'yes'}
        for changes, field, text in [
                ({'iban': 'BE85 7355 5692 7307'}, 'iban',
                    'not a valid IBAN'),
                ({'iban': ''}, 'iban', 'Fill this in.'),
                ({'consent': ''}, 'consent', 'Tick this box'),
                ({'city': ''}, 'city', 'Fill this in.'),
                ]:
            with self.subTest(field=field, changes=changes):
                response = self.post(
                    client, '/direct-debit', {**good, **changes})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                body = response.get_data(as_text=True)
                self.assertIn(text, re.search(
                        rf'id="e-{field}">([^<]+)<', body).group(1))
                self.assertIn(f'aria-describedby="e-{field}"', body)
        self.assertEqual(self.mandates(account_id), before)

        response = self.post(client, '/direct-debit', good)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        self.assertEqual(
            response.headers['Location'], '/direct-debit?done=mandate')
        self.assertEqual(self.mandates(account_id)[len(before):], [
                (company_id, 'requested', 'BE85 7355 5692 7306', 'Bruxelles',
                    'recurrent', 'CORE')])
        body = self.get(client, '/direct-debit').get_data(as_text=True)
        self.assertIn('BE85 …7306', body)
        self.assertIn('awaiting confirmation', body)
        self.assertNotIn('7355 5692', body)
        # Rita sees none of Otto's mandates.
        rita = self.get(self.sign_in('rita@example.com'), '/direct-debit')
        self.assertNotIn('7306', rita.get_data(as_text=True))

    def test_postpaid_signup_asks_for_a_mandate(self):
        "After validating the e-mail, a postpaid sign-up signs its mandate"
        base = 'https://two.portal.test'
        client = self.client()
        token = csrf_of(client.get('/signup', base_url=base))
        sent = []
        with patch.object(views_signup, 'send_now', sent.append):
            response = client.post('/signup', base_url=base, data={
                    'csrf_token': token, 'plan': str(self.plan_id),
                    'name': 'Paula Post', 'email': 'paula@example.com',
                    'password': 'Paula-Passw0rd-2026',
                    'flavour': 'residential', 'billing_mode': 'postpaid',
                    **ADDRESS})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        message, = sent
        link = re.search(r'https://two\.portal\.test(/signup/validate'
            r'\?token=\w+)', message.get_body(('html',)).get_content())
        response = client.get(link.group(1), base_url=base)
        self.assertEqual(response.headers['Location'], '/direct-debit')
        body = client.get('/direct-debit', base_url=base).get_data(
            as_text=True)
        self.assertIn('Your invoices are paid by SEPA direct debit', body)
        self.assertIn('I authorise Two Talk', body)

    # --- concurrent-call limits (telecom_switch) ---------------------------

    def test_reseller_sets_call_limits(self):
        """A reseller sets its customer's concurrent-call limits; a bad one
        is said next to its field and nothing is changed"""
        client = self.sign_in('rex@example.com')
        url = f'/reseller/customers/{self.account_id}'
        body = self.get(client, url).get_data(as_text=True)
        self.assertIn('Outbound calls at once', body)

        def limits():
            with self.db():
                account = Pool().get('telecom.account')(self.account_id)
                return (account.max_inbound, account.max_outbound,
                    account.max_total)
        before = limits()
        for name, value in [('max_outbound', '-1'), ('max_total', 'two'),
                ('max_inbound', '10001')]:
            with self.subTest(name=name, value=value):
                response = self.post(client, url, {
                        'credit_limit': '', 'plan': '', name: value})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                self.assertIn('A whole number of calls', re.search(
                        rf'id="e-{name}">([^<]+)<',
                        response.get_data(as_text=True)).group(1))
        self.assertEqual(limits(), before)
        response = self.post(client, url, {'credit_limit': '', 'plan': '',
                'max_inbound': '', 'max_outbound': '2', 'max_total': '3'})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(limits(), (None, 2, 3))
        body = self.get(client, url).get_data(as_text=True)
        self.assertIn('name="max_total" type="number" value="3"', body)

    # --- voucher batches ---------------------------------------------------

    def test_reseller_voucher_batches(self):
        """A reseller generates a batch through telecom_payment, downloads
        its codes as CSV, and its customer redeems one; bad input is said
        by field; another tenant's batch is not found"""
        rex = self.sign_in('rex@example.com')
        next_year = (dt.date.today() + dt.timedelta(days=365)).isoformat()
        good = {'name': 'Corner shop', 'value': '5.00', 'quantity': '3',
            'expiry': next_year}
        with self.db():
            Batch = Pool().get('telecom.voucher.batch')
            batches = Batch.search([], count=True)
        for changes, field, text in [
                ({'quantity': '0'}, 'quantity', 'A whole number from 1'),
                ({'quantity': '10001'}, 'quantity', 'A whole number from 1'),
                ({'value': '0.001'}, 'value', 'At least 0.01'),
                ({'value': '5.001'}, 'value', 'At most 2 decimals'),
                ({'expiry': '2020-01-01'}, 'expiry', 'in the past'),
                ]:
            with self.subTest(field=field, changes=changes):
                response = self.post(
                    rex, '/reseller/vouchers', {**good, **changes})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                self.assertIn(text, re.search(rf'id="e-{field}">([^<]+)<',
                        response.get_data(as_text=True)).group(1))
        with self.db():
            self.assertEqual(Batch.search([], count=True), batches)

        response = self.post(rex, '/reseller/vouchers', good)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        batch_id = int(re.search(r'batch=(\d+)',
                response.headers['Location']).group(1))
        response = self.get(rex, f'/reseller/vouchers/{batch_id}.csv')
        self.assertEqual(response.mimetype, 'text/csv')
        rows = list(csv.DictReader(io.StringIO(
                    response.get_data(as_text=True))))
        self.assertEqual(len(rows), 3)
        for row in rows:
            self.assertRegex(row['code'], r'^([2-9A-HJ-NP-Z]{4}-){3}'
                r'[2-9A-HJ-NP-Z]{4}$')
            self.assertEqual((row['value'], row['currency'], row['expiry'],
                    row['state']), ('5.00', 'EUR', next_year, 'active'))

        # Rita, a prepaid customer of the same tenant, redeems one.
        rita = self.sign_in('rita@example.com')
        before = self.balance()
        response = self.post(rita, '/voucher', {'code': rows[0]['code']})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        # before + 5.00
        self.assertEqual(self.balance(), before + Decimal('5.00'))

        with self.db() as transaction:
            Company = Pool().get('company.company')
            owner, = Company.search([('parent', '=', None)])
            other, = Batch.create([{'name': 'Owner', 'company': owner.id,
                        'value': Decimal(1),
                        'currency': owner.currency.id,
                        'expiry': dt.date.today(), 'quantity': 1}])
            transaction.commit()
        self.assertEqual(
            self.get(rex, f'/reseller/vouchers/{other.id}.csv').status_code,
            HTTPStatus.NOT_FOUND)
        self.assertNotIn('Owner', self.get(rex, '/reseller/vouchers')
            .get_data(as_text=True).replace('Owner Telecom', ''))

    # --- the shop (telecom_sale) -------------------------------------------

    def test_shop_behind_the_wall(self):
        """Each customer's shop lists its own tenant's products with their
        prices — recurring ones to postpaid customers only — and never the
        other tenant's; ordering the other tenant's product by its id is
        not found, and nothing is sold"""
        rita = self.sign_in('rita@example.com')
        otto = self.sign_in('otto@example.com')
        for client, shown, hidden in [
                (rita, ["Two desk phone", "30.00 EUR"],
                    ["Owner desk phone", "Owner hosted PBX"]),
                (otto, ["Owner desk phone", "49.00 EUR",
                        "Owner hosted PBX", "12.00 EUR a month"],
                    ["Two desk phone"])]:
            body = self.get(client, '/shop').get_data(as_text=True)
            for text in shown:
                self.assertIn(text, body)
            for text in hidden:
                self.assertNotIn(text, body)
        for client, name in [(rita, "Owner desk phone"),
                (rita, "Owner hosted PBX"), (otto, "Two desk phone")]:
            with self.subTest(name=name):
                response = self.post(client, '/shop/order', {
                        'product': str(self.products[name]),
                        'quantity': '1'})
                self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        self.assert_nothing_sold()

    def test_customer_cannot_reach_other_tenants(self):
        """The wall of test_portal.py, every route of the URL map, with the
        shop open: another tenant's product ids in /shop/order's form"""
        rita = self.sign_in('rita@example.com')
        checked = self.assert_walled(rita, {
                'account_id': [self.owner_customer_id],
                'plan_id': [self.plan_id],
                'invoice_id': [10 ** 6],
                'product_id': [self.products["Owner desk phone"],
                    self.products["Owner hosted PBX"], 10 ** 6],
                }, 'customer')
        self.assertGreater(checked, 10)
        otto = self.sign_in('otto@example.com')
        self.assert_walled(otto, {
                'account_id': [self.account_id],
                'product_id': [self.products["Two desk phone"]],
                }, 'customer')
        self.assert_nothing_sold()

    def assert_nothing_sold(self):
        with self.db():
            pool = Pool()
            Sale = pool.get('sale.sale')
            Subscription = pool.get('telecom.subscription')
            self.assertEqual(Sale.search([], count=True), 0)
            self.assertEqual(Subscription.search([], count=True), 0)
