"""The portal through HTTP, with werkzeug's test client (no browser).

One database for the class (setUpDatabase): the suite's tenancy
(telecom_base's create_tenancy: owner → Reseller One → Sub Reseller Two,
and Reseller Three), Reseller One's marked-up plan on its customer, portal
log-ins for a customer and a reseller on each side of the wall, and 120
rated calls."""
import csv
import datetime as dt
import io
import re
import socket
from contextlib import contextmanager
from decimal import Decimal
from http import HTTPStatus
from unittest.mock import patch

from werkzeug.test import Client

from trytond.config import config
from trytond.modules.telecom_billing.tests.test_document import billed
from trytond.modules.telecom_rating.tests.tools import cdr
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction, TransactionError

from ..web import scope, views_password, views_signup
from ..web.app import KINDS, Portal

BASE = 'https://portal.test'
PASSWORD = 'Portal-Passw0rd-2026'
CALLS = 120
# The first call, then one every 3 hours, newest last.
FIRST_CALL = dt.datetime(2026, 1, 1, 8, 0)
# (route, method) → (form field, name of the ids): the routes that take a
# record's id in their form, not in their path; the wall is tested on them
# with other tenants' ids in that field.
# A customer's address, as the forms that create an account ask it.
ADDRESS = {'street': '3 Quay Street', 'postal_code': 'BS1 4QA',
    'city': 'Bristol', 'country': 'GB'}


@contextmanager
def smtp_down():
    "The mail server refuses connections: a port nothing listens on"
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    uri = config.get('email', 'uri')
    config.set('email', 'uri', f'smtp://127.0.0.1:{port}')
    try:
        yield
    finally:
        config.set('email', 'uri', uri)


FORM_IDS = {('/shop/order', 'POST'): ('product', 'product_id')}


def csrf_of(response):
    found = re.search(
        r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    return found.group(1) if found else None


class PortalClientCase(RouteTestCase):
    """The portal's test client and its helpers; a class of tests gives
    ``setUpDatabase``"""
    module = 'telecom_portal'

    @classmethod
    def setUpClass(cls):
        # RouteTestCase's, retried as with_transaction does: creating the
        # charts asks for a table lock (TransactionError) on first try.
        super(RouteTestCase, cls).setUpClass()
        extras = {}
        while True:
            with Transaction().start(DB_NAME, 1, **extras) as transaction:
                try:
                    cls.setUpDatabase()
                except TransactionError as error:
                    transaction.rollback()
                    error.fix(extras)
                    continue
            break

    def setUp(self):
        super().setUp()
        self.portal = Portal(DB_NAME, secure_cookies=True)

    def client(self):
        return Client(self.portal)

    def get(self, client, path, **kwargs):
        return client.get(path, base_url=BASE, **kwargs)

    def post(self, client, path, data=None, token=True, **kwargs):
        data = dict(data or {})
        if token is True:
            data['csrf_token'] = self.token(client)
        elif token:
            data['csrf_token'] = token
        return client.post(path, base_url=BASE, data=data, **kwargs)

    def token(self, client):
        "The CSRF token of the client's session, read from a form"
        response = self.get(client, '/')
        if response.status_code == HTTPStatus.SEE_OTHER and (
                not response.headers['Location'].startswith('/login')):
            page = ('/profile' if response.headers['Location'] == '/account'
                else '/reseller/profile')
        else:
            page = '/login'
        return csrf_of(self.get(client, page))

    def sign_in(self, email):
        client = self.client()
        response = self.post(client, '/login', {
                'email': email, 'password': PASSWORD})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        return client

    def db(self):
        return Transaction().start(DB_NAME, 0)

    # --- the security wall, enumerated from the URL map ------------------

    def rules(self):
        for rule in self.portal.url_map.iter_rules():
            kind, _ = self.portal.views[rule.endpoint]
            for method in sorted(rule.methods - {'HEAD', 'OPTIONS'}):
                yield rule, kind, method

    def url(self, rule, ids):
        values = {}
        for name in rule.arguments:
            values[name] = ids.get(name, 'portal.css')
        return rule.build(values, append_unknown=False)[1]

    def assert_walled(self, client, foreign_ids, allowed_kind):
        """Every route with an id — in its path, or in its form (FORM_IDS)
        — given ids of other tenants, answers 404 (or 403 for pages of the
        other kind of principal) — GET and POST with a valid CSRF token (a
        form replayed with another's ids)."""
        checked = 0
        token = self.token(client)
        for rule, kind, method in self.rules():
            if kind == 'public':
                continue
            names = list(rule.arguments)
            field, form_name = FORM_IDS.get((rule.rule, method), (None, None))
            if form_name:
                names.append(form_name)
            for name in names:
                for value in foreign_ids.get(name, []):
                    url = self.url(rule, {name: value})
                    with self.subTest(url=url, method=method, name=name):
                        if method == 'GET':
                            response = self.get(client, url)
                        else:
                            data = {'credit_limit': '1', 'percent': '99',
                                'plan': '', 'group': '', 'quantity': '1'}
                            if name == form_name:
                                data[field] = str(value)
                            response = self.post(
                                client, url, data, token=token)
                        expected = HTTPStatus.NOT_FOUND if kind in {
                            allowed_kind, 'signed-in'} else (
                            HTTPStatus.FORBIDDEN)
                        self.assertEqual(response.status_code, expected)
                        checked += 1
        return checked


class PortalTestCase(PortalClientCase):
    "Test the portal over HTTP"

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        WebUser = pool.get('web.user')
        Party = pool.get('party.party')
        SipAddress = pool.get('telecom.sip_address')
        Cdr = pool.get('telecom.cdr')
        Plan = pool.get('telecom.rate.plan')
        Brand = pool.get('telecom.brand')
        Invoice = pool.get('account.invoice')
        # telecom_billing's fixture: charts, January 2024's calls billed
        # for the owner's customer and Reseller One's (one call of Ann's).
        t, owner_invoice, ann_invoice = billed()
        # One company per call: account 8.0's Move.post mixes them up.
        Invoice.post([owner_invoice])
        Invoice.post([ann_invoice])
        # Reseller One's method for payments received outside the portal.
        Account = pool.get('account.account')
        Journal = pool.get('account.journal')
        Method = pool.get('account.invoice.payment.method')
        r1_cash, = Account.search([
                ('company', '=', t.r1.id), ('code', '=', '1.1.1')])
        Method.create([{'name': "Bank transfer", 'company': t.r1.id,
                    'journal': Journal.search([('type', '=', 'cash')])[0].id,
                    'debit_account': r1_cash.id,
                    'credit_account': r1_cash.id}])
        t.r3_plan, = Plan.create([{
                    'name': "R3 retail", 'company': t.r3.id,
                    'currency': t.currency.id, 'decimals': 4,
                    'parent': t.owner_plan.id}])
        # Output is escaped: the customer chose a hostile name.
        Party.write([t.r1_customer.party], {
                'name': '<script>alert("x")</script> Ann Ltd'})
        Plan.write([t.r1_plan], {'signup': True})
        Brand.create([
                {'name': "One Voice", 'company': t.r1.id, 'default': True,
                    'host_names': 'one.portal.test',
                    'primary_colour': '#7a1f5c',
                    'email_from': 'hello@one.example',
                    'support_email': 'help@one.example'},
                {'name': "Three Talk", 'company': t.r3.id, 'default': True,
                    'host_names': 'three.portal.test',
                    'primary_colour': '#0b6e4f'},
                ])
        WebUser.create([{'email_valid': True, **values} for values in [
                {'email': 'ann@example.com', 'password': PASSWORD,
                    'telecom_account': t.r1_customer.id},
                {'email': 'bob@example.com', 'password': PASSWORD,
                    'telecom_account': t.r3_customer.id},
                {'email': 'carol@example.com', 'password': PASSWORD,
                    'reseller': t.r1.id},
                {'email': 'dave@example.com', 'password': PASSWORD,
                    'reseller': t.r3.id},
                {'email': 'erin@example.com', 'password': PASSWORD,
                    'telecom_account': t.r2_customer.id},
                ]])
        ann_sip, owner_sip = SipAddress.create([
                {'account': t.r1_customer.id, 'address': 'desk@ann.example'},
                {'account': t.owner_customer.id,
                    'address': 'desk@owner.example'},
                ])
        # 60 s to a UK landline every 3 hours. The owner sells at 0.0200 a
        # minute; Reseller One's plan adds 10 % on destinations without a
        # markup of their own: Ann pays 0.0220 a call.
        Cdr.ingest([cdr(t.r1_customer, f'ann-{i}', '442071234567',
                    FIRST_CALL + dt.timedelta(hours=3 * i), 60,
                    answer=FIRST_CALL + dt.timedelta(hours=3 * i))
                for i in range(CALLS)]
            + [cdr(t.r3_customer, 'bob-1', '442079999999',
                FIRST_CALL, 60, answer=FIRST_CALL)])
        Cdr.rate_unrated()
        cls.ids = {
            'r1_customer': t.r1_customer.id, 'r2_customer': t.r2_customer.id,
            'r3_customer': t.r3_customer.id,
            'owner_customer': t.owner_customer.id,
            'r1_account': t.r1_account.id,
            'owner_plan': t.owner_plan.id, 'r1_plan': t.r1_plan.id,
            'r2_plan': t.r2_plan.id, 'r3_plan': t.r3_plan.id,
            'ann_sip': ann_sip.id, 'owner_sip': owner_sip.id,
            'uk_mobile': t.uk_mobile.id,
            'owner_invoice': owner_invoice.id, 'ann_invoice': ann_invoice.id,
            }
        cls.ann_invoice_number = ann_invoice.number

    # --- log-in, sessions, cookies ---------------------------------------

    def test_sign_in_sets_a_secure_session_cookie(self):
        "Signing in sets a Secure, HttpOnly, SameSite=Lax session cookie"
        client = self.client()
        response = self.post(client, '/login', {
                'email': 'ANN@example.com', 'password': PASSWORD,
                'next': '/calls'})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(response.headers['Location'], '/calls')
        cookie, = [c for c in response.headers.getlist('Set-Cookie')
            if c.startswith('portal_session=')]
        self.assertIn('Secure', cookie)
        self.assertIn('HttpOnly', cookie)
        self.assertIn('SameSite=Lax', cookie)

        self.post(client, '/logout')
        response = self.get(client, '/account')
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertTrue(response.headers['Location'].startswith('/login'))

    def test_sign_in_refuses_open_redirect(self):
        "After log-in, 'next' may only be a path of the portal"
        for next_ in ['//evil.example/x', '/\t/evil.example',
                '/\n/evil.example', '/\\evil.example', '/\x0b/evil.example',
                '/\u3000/evil.example']:
            with self.subTest(next=next_):
                client = self.client()
                response = self.post(client, '/login', {
                        'email': 'ann@example.com', 'password': PASSWORD,
                        'next': next_})
                self.assertEqual(response.headers['Location'], '/')
        client = self.client()
        response = self.get(client, '/login?next=/%09/evil.example')
        self.assertNotIn('evil.example', response.get_data(as_text=True))

    def test_wrong_password_error_next_to_field(self):
        "A wrong password is shown next to the field, for any e-mail alike"
        client = self.client()
        for email in ['ann@example.com', 'nobody@example.com']:
            response = self.post(client, '/login', {
                    'email': email, 'password': 'wrong'})
            self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
            body = response.get_data(as_text=True)
            self.assertIn('id="e-password"', body)
            self.assertIn('do not match an account', body)
            self.assertIn('aria-invalid="true"', body)

    def test_sign_in_rate_limited(self):
        "After 5 failures, the right password is refused too (429)"
        client = self.client()
        for _ in range(5):
            response = self.post(client, '/login', {
                    'email': 'erin@example.com', 'password': 'guess'})
            self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        response = self.post(client, '/login', {
                'email': 'erin@example.com', 'password': PASSWORD})
        self.assertEqual(
            response.status_code, HTTPStatus.TOO_MANY_REQUESTS)
        self.assertIn('Too many failed log-ins',
            response.get_data(as_text=True))
        # Counted in the database: a new client (process) is refused too.
        response = self.post(self.client(), '/login', {
                'email': 'erin@example.com', 'password': PASSWORD})
        self.assertEqual(
            response.status_code, HTTPStatus.TOO_MANY_REQUESTS)
        with self.db():
            Attempt = Pool().get('web.user.authenticate.attempt')
            Attempt.remove('erin@example.com')
            Transaction().commit()

    # --- the security wall -----------------------------------------------

    def test_every_route_names_its_principal(self):
        "Every route declares who may open it; the public ones are few"
        public = set()
        for rule, kind, _ in self.rules():
            self.assertIn(kind, KINDS, rule.rule)
            if kind == 'public':
                public.add(rule.rule)
        self.assertEqual(public, {
                '/login', '/static/<path:filename>', '/brand/logo',
                '/signup', '/signup/sent', '/signup/validate',
                '/password/forgot', '/password/reset'})

    def test_anonymous_reaches_only_public_pages(self):
        "Anonymous: every private GET redirects to log-in, every POST is 403"
        ids = {'account_id': self.ids['r1_customer'],
            'address_id': self.ids['ann_sip'], 'plan_id': self.ids['r1_plan'],
            'invoice_id': self.ids['ann_invoice'], 'batch_id': 10 ** 6,
            'number_id': 10 ** 6}
        client = self.client()
        for rule, kind, method in self.rules():
            url = self.url(rule, ids)
            with self.subTest(url=url, method=method):
                if method == 'GET':
                    response = self.get(client, url)
                else:
                    response = self.post(client, url)
                if kind == 'public':
                    self.assertNotIn(response.status_code, {
                            HTTPStatus.SEE_OTHER, HTTPStatus.FORBIDDEN,
                            HTTPStatus.INTERNAL_SERVER_ERROR})
                elif method == 'GET':
                    self.assertEqual(
                        response.status_code, HTTPStatus.SEE_OTHER)
                    self.assertTrue(response.headers['Location'].startswith(
                            '/login?next='))
                else:
                    self.assertEqual(
                        response.status_code, HTTPStatus.FORBIDDEN)

    def test_customer_cannot_reach_other_tenants(self):
        "A customer reaches nothing of another account, by any route"
        client = self.sign_in('ann@example.com')
        checked = self.assert_walled(client, {
                'account_id': [self.ids['r3_customer'],
                    self.ids['owner_customer'], self.ids['r1_customer']],
                'address_id': [self.ids['owner_sip'], 10 ** 6],
                'plan_id': [self.ids['r1_plan'], self.ids['owner_plan']],
                'invoice_id': [self.ids['owner_invoice'], 10 ** 6],
                'batch_id': [10 ** 6],
                'number_id': [10 ** 6],
                # The shop is not open here (test_payments.py opens it).
                'product_id': [10 ** 6],
                }, 'customer')
        self.assertGreater(checked, 20)
        with self.db():
            SipAddress = Pool().get('telecom.sip_address')
            Account = Pool().get('telecom.account')
            self.assertEqual(
                SipAddress(self.ids['owner_sip']).address,
                'desk@owner.example')
            self.assertEqual(
                Account(self.ids['r3_customer']).state, 'active')

    def test_reseller_cannot_reach_other_tenants(self):
        """A reseller reaches neither another reseller's customers, nor its
        parent's plans and customers, nor its sub-reseller's customers"""
        client = self.sign_in('carol@example.com')
        self.assert_walled(client, {
                'account_id': [self.ids['r3_customer'],
                    self.ids['owner_customer'], self.ids['r2_customer'],
                    self.ids['r1_account']],
                'plan_id': [self.ids['owner_plan'], self.ids['r2_plan'],
                    self.ids['r3_plan']],
                'address_id': [self.ids['ann_sip']],
                'invoice_id': [self.ids['owner_invoice']],
                'batch_id': [10 ** 6],
                'number_id': [10 ** 6],
                }, 'reseller')
        with self.db():
            pool = Pool()
            Account = pool.get('telecom.account')
            Plan = pool.get('telecom.rate.plan')
            self.assertEqual(
                Account(self.ids['r3_customer']).state, 'active')
            self.assertEqual(
                Account(self.ids['r3_customer']).credit_limit, None)
            self.assertEqual(len(Plan(self.ids['owner_plan']).markups), 0)

    def test_reseller_sees_nothing_of_its_parent(self):
        "Reseller One's pages never name the owner nor its prices (F2)"
        client = self.sign_in('carol@example.com')
        pages = ['/reseller/customers', '/reseller/plans',
            f'/reseller/plans/{self.ids["r1_plan"]}',
            f'/reseller/plans/{self.ids["r1_plan"]}/rates.csv',
            f'/reseller/customers/{self.ids["r1_customer"]}/calls',
            '/reseller/invoices', '/reseller/profile']
        menu = re.findall(r'<li><a href="(/[^"]*)">', self.get(
                client, '/reseller/customers').get_data(as_text=True))
        self.assertEqual(len(menu), 7)
        for page in pages + menu:
            with self.subTest(page=page):
                response = self.get(client, page)
                self.assertEqual(response.status_code, HTTPStatus.OK)
                body = response.get_data(as_text=True)
                for secret in ['Owner Telecom', 'Owner wholesale',
                        'Owner Customer', 'R3 Customer', 'R2 Customer',
                        '0.0200']:
                    self.assertNotIn(secret, body)

    def test_customer_pages_of_reseller_are_forbidden(self):
        "A customer opening a reseller page gets 403, and the reverse"
        ann = self.sign_in('ann@example.com')
        self.assertEqual(self.get(ann, '/reseller/customers').status_code,
            HTTPStatus.FORBIDDEN)
        carol = self.sign_in('carol@example.com')
        self.assertEqual(self.get(carol, '/calls').status_code,
            HTTPStatus.FORBIDDEN)

    def test_csrf_required(self):
        "A form without the session's CSRF token is refused, changes nothing"
        ann = self.sign_in('ann@example.com')
        bob = self.sign_in('bob@example.com')
        for token in [False, 'forged', self.token(bob)]:
            with self.subTest(token=token):
                response = self.post(ann, '/sip-addresses',
                    {'address': 'csrf@ann.example'}, token=token)
                self.assertEqual(response.status_code, HTTPStatus.FORBIDDEN)
        with self.db():
            SipAddress = Pool().get('telecom.sip_address')
            self.assertEqual(SipAddress.search(
                    [('address', '=', 'csrf@ann.example')]), [])

    def test_oversized_body_refused_whole(self):
        "A body over the portal's limit is a 413; nothing of it is written"
        client = self.sign_in('ann@example.com')
        token = self.token(client)
        self.portal.max_body = 4096
        response = self.post(client, '/sip-addresses', {
                'address': 'huge@ann.example', 'padding': 'x' * 5000},
            token=token)
        self.assertEqual(
            response.status_code, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        response = self.post(client, '/sip-addresses', {
                'address': 'small@ann.example'}, token=token)
        self.assertNotEqual(
            response.status_code, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        with self.db():
            SipAddress = Pool().get('telecom.sip_address')
            self.assertEqual(SipAddress.search(
                    [('address', '=', 'huge@ann.example')]), [])

    def test_odd_input_is_never_a_500(self):
        """Unicode digits and huge numbers as ids and quantities, dates in
        year 9999 and beyond, a long Host name, a missing static file:
        refused or not found, never a server error (issue 16)"""
        odd_ids = ['\u0661\u0662', '\uff11', '9' * 40, '-1']
        queries = ['start=9999-12-31&end=99999-01-01',
            'start=\u0662\u0660\u0662\u0666-01-01', 'after=9' * 40,
            'page=\u0663', 'number=\u0664\u0664']
        checked = 0
        for email in ['ann@example.com', 'carol@example.com']:
            client = self.sign_in(email)
            token = self.token(client)
            for rule, kind, method in self.rules():
                if rule.rule == '/logout':
                    continue
                paths = [re.sub(r'<[^>]+>', value, rule.rule)
                    for value in odd_ids] if rule.arguments else [rule.rule]
                # The odd queries on the pages without ids (the lists).
                for path in paths:
                    for query in (queries if method == 'GET'
                            and not rule.arguments else ['']):
                        url = f'{path}?{query}' if query else path
                        if method == 'GET':
                            response = self.get(client, url)
                        else:
                            response = self.post(client, url, {
                                    'quantity': '\u0663', 'product': '9' * 40,
                                    'start': '99999-01-01'}, token=token)
                        checked += 1
                        self.assertLess(response.status_code, 500,
                            (method, url))
        self.assertGreater(checked, 100)
        client = self.client()
        for url in ['/static/missing.css', '/static/../../etc/passwd',
                '/static/\u0661.css']:
            self.assertEqual(self.get(client, url).status_code,
                HTTPStatus.NOT_FOUND, url)
        response = self.get(client, '/login',
            headers={'Host': '.'.join(['a' * 63] * 8)})
        self.assertLess(response.status_code, 500)

    def test_every_form_needs_csrf(self):
        """Every POST route of the URL map, sent by the principal it is for
        without the form's CSRF token, is refused (403) before its
        handler runs"""
        clients = {'customer': self.sign_in('ann@example.com'),
            'signed-in': self.sign_in('ann@example.com'),
            'reseller': self.sign_in('carol@example.com')}
        ids = {'account_id': self.ids['r1_customer'],
            'address_id': self.ids['ann_sip'], 'plan_id': self.ids['r1_plan'],
            'invoice_id': self.ids['ann_invoice'], 'batch_id': 10 ** 6,
            'number_id': 10 ** 6}
        checked = 0
        for rule, kind, method in self.rules():
            if method != 'POST':
                continue
            client = clients.get(kind) or self.client()
            with self.subTest(url=rule.rule, kind=kind):
                response = self.post(client, self.url(rule, ids), {
                        'amount': '10', 'iban': 'BE85735556927306'},
                    token=False)
                self.assertEqual(response.status_code, HTTPStatus.FORBIDDEN)
                checked += 1
        self.assertGreater(checked, 15)

    def test_output_escaped(self):
        "A party name with <script> renders escaped"
        client = self.sign_in('ann@example.com')
        body = self.get(client, '/account').get_data(as_text=True)
        self.assertIn(
            '&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Ann Ltd', body)
        self.assertNotIn('<script>', body)
        carol = self.sign_in('carol@example.com')
        body = self.get(carol, '/reseller/customers').get_data(as_text=True)
        self.assertIn('&lt;script&gt;', body)
        self.assertNotIn('<script>', body)

    # --- customer pages --------------------------------------------------

    def test_postpaid_sees_no_balance(self):
        """A postpaid customer, invoiced after use, sees neither a balance
        (always 0.00) nor a top-up it cannot use; a prepaid one sees both"""
        body = self.get(self.sign_in('ann@example.com'), '/account'
            ).get_data(as_text=True)
        self.assertIn('<h2 id="balance-h">Account</h2>', body)
        self.assertNotIn('Balance', body)
        self.assertNotIn('href="/top-up"', body)
        self.assertIn('· Postpaid', body)
        body = self.get(self.sign_in('erin@example.com'), '/account'
            ).get_data(as_text=True)
        self.assertIn('<h2 id="balance-h">Balance</h2>', body)
        self.assertIn('<li><a href="/top-up">Top up</a></li>', body)

    def test_reseller_lists_in_words(self):
        "A reseller's customers are listed in words, not stored codes"
        body = self.get(self.sign_in('carol@example.com'),
            '/reseller/customers').get_data(as_text=True)
        row = body[body.index('Ann Ltd'):]
        row = row[:row.index('</tr>')]
        # Postpaid: no balance to show.
        self.assertEqual(re.findall(r'<td[^>]*>([^<]*)</td>', row),
            ['PBX', 'Postpaid', '—', 'Active'])

    def test_flavours(self):
        "Each account kind gets its own home page (F3)"
        for email, heading in [
                ('ann@example.com', 'PBX'),
                ('bob@example.com', 'wholesale trunk'),
                ('erin@example.com', 'Your phone lines')]:
            with self.subTest(email=email):
                client = self.sign_in(email)
                response = self.get(client, '/account')
                self.assertEqual(response.status_code, HTTPStatus.OK)
                body = response.get_data(as_text=True)
                self.assertIn(heading, body)
                self.assertIn('<svg class="chart"', body)
                # Every page of the customer's menu opens.
                for path in re.findall(r'<li><a href="(/[^"]*)">', body):
                    self.assertEqual(
                        self.get(client, path).status_code, HTTPStatus.OK,
                        path)

    def test_call_history_keyset_pages(self):
        """120 calls in pages of 50, newest first, each call once; the
        price is the customer's (0.0220), never its reseller's cost"""
        client = self.sign_in('ann@example.com')
        seen, url = [], '/calls'
        while url:
            response = self.get(client, url)
            self.assertEqual(response.status_code, HTTPStatus.OK)
            body = response.get_data(as_text=True)
            starts = re.findall(r'<td>(20\d\d-\d\d-\d\d \d\d:\d\d:\d\d)</td>',
                body)
            seen.append(starts)
            self.assertNotIn('0.0200', body)
            found = re.search(r'href="\?([^"]*after=[^"]+)" rel="next"', body)
            url = '/calls?' + found.group(1).replace('&amp;', '&') \
                if found else None
        # The fixture's call of January 2024 is the oldest: 121 calls.
        self.assertEqual([len(p) for p in seen], [50, 50, 21])
        flat = [s for p in seen for s in p]
        self.assertEqual(flat, sorted(flat, reverse=True))
        self.assertEqual(len(set(flat)), CALLS + 1)
        self.assertEqual(flat[0], (FIRST_CALL + dt.timedelta(
                    hours=3 * (CALLS - 1))).strftime('%Y-%m-%d %H:%M:%S'))

    def test_call_history_as_read(self):
        """Calls in the tenant's time zone, lengths as h:mm:ss, prices with
        the currency and the plan's 4 decimals"""
        with self.db() as transaction:
            Company = Pool().get('company.company')
            r1, = Company.search([('party.name', '=', 'Reseller One')])
            Company.write([r1], {'timezone': 'Europe/Paris'})
            transaction.commit()
        try:
            body = self.get(self.sign_in('ann@example.com'),
                '/calls?start=2026-01-01&end=2026-01-01').get_data(
                as_text=True)
        finally:
            with self.db() as transaction:
                Company.write([Company(r1.id)], {'timezone': None})
                transaction.commit()
        self.assertIn('<p class="help">Times in Europe/Paris.</p>', body)
        # The first call, 08:00 UTC, is 09:00 in Paris in January: 60 s
        # at Ann's 0.0220 a minute.
        row = body[body.index('<td>2026-01-01 09:00:00</td>'):]
        row = row[:row.index('</tr>')]
        self.assertEqual(re.findall(r'<td[^>]*>([^<]*)</td>', row),
            ['2026-01-01 09:00:00', '442071230000', '442071234567', 'UK',
                '0:01:00', 'answered', '0.0220 EUR'])

    def test_call_history_filters_and_csv(self):
        "Date range and number filters; the CSV holds the same calls"
        client = self.sign_in('ann@example.com')
        # 2026-01-01 08:00 + 3 h steps: 08, 11, 14, 17, 20, 23 → 6 calls a
        # day on Jan 1, 8 a day after.
        response = self.get(client, '/calls?start=2026-01-02&end=2026-01-03')
        body = response.get_data(as_text=True)
        self.assertEqual(len(re.findall(r'<td>2026-01-0[23] ', body)), 16)
        response = self.get(
            client, '/calls.csv?start=2026-01-01&end=2026-01-01&number=2071')
        self.assertEqual(response.mimetype, 'text/csv')
        rows = list(csv.DictReader(io.StringIO(
                    response.get_data(as_text=True))))
        self.assertEqual(len(rows), 6)
        self.assertEqual({r['amount'] for r in rows}, {'0.0220'})
        self.assertEqual(
            sum(Decimal(r['amount']) for r in rows), Decimal('0.1320'))
        response = self.get(client, '/calls.csv?number=999')
        self.assertEqual(len(response.get_data(as_text=True).splitlines()), 1)

    def test_call_history_bad_filter(self):
        "A bad date is named next to its field; nothing is listed"
        client = self.sign_in('ann@example.com')
        response = self.get(client, '/calls?start=31/12/2026&number=abc')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        self.assertIn('id="e-start"', body)
        self.assertIn('YYYY-MM-DD', body)
        self.assertIn('id="e-number"', body)
        response = self.get(client, '/calls?after=garbage')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)

    def test_sip_addresses(self):
        "Add (normalised), refuse bad or taken ones next to the field, remove"
        client = self.sign_in('ann@example.com')
        response = self.post(client, '/sip-addresses',
            {'address': ' Sales@Ann.Example '})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        body = self.get(client, '/sip-addresses').get_data(as_text=True)
        self.assertIn('sales@ann.example', body)
        for address, message in [
                ('no-at-sign', 'not of the form user@domain'),
                ('desk@owner.example', 'already used on the platform')]:
            with self.subTest(address=address):
                response = self.post(client, '/sip-addresses',
                    {'address': address})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                body = response.get_data(as_text=True)
                self.assertIn('id="e-address"', body)
                self.assertIn(message, body)
                self.assertNotIn('Owner Customer', body)
        with self.db():
            SipAddress = Pool().get('telecom.sip_address')
            added, = SipAddress.search([('address', '=', 'sales@ann.example')])
            added_id = added.id
        response = self.post(client, f'/sip-addresses/{added_id}/remove')
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        with self.db():
            SipAddress = Pool().get('telecom.sip_address')
            self.assertEqual(SipAddress.search(
                    [('address', '=', 'sales@ann.example')]), [])

    def test_change_password(self):
        "The current password is asked; errors are shown next to the field"
        client = self.sign_in('bob@example.com')
        response = self.post(client, '/profile/password', {
                'current': 'wrong', 'new': 'x', 'repeat': 'x'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('id="e-current"', response.get_data(as_text=True))
        new = 'Another-Passw0rd-2026'
        response = self.post(client, '/profile/password', {
                'current': PASSWORD, 'new': new, 'repeat': new})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        other = self.client()
        response = self.post(other, '/login', {
                'email': 'bob@example.com', 'password': new})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.post(client, '/profile/password', {
                'current': new, 'new': PASSWORD, 'repeat': PASSWORD})

    def test_services_not_activated(self):
        """Without telecom_payment and telecom_sale the pages say the
        service is not offered; an order changes nothing"""
        client = self.sign_in('erin@example.com')
        for path, text in [('/shop', 'The shop is not open'),
                ('/voucher', 'Vouchers are not offered'),
                ('/top-up', 'Top-ups are not offered')]:
            with self.subTest(path=path):
                response = self.get(client, path)
                self.assertEqual(response.status_code, HTTPStatus.OK)
                self.assertIn(text, response.get_data(as_text=True))
        response = self.post(client, '/shop/order',
            {'product': '1', 'quantity': '1'})
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        response = self.post(client, '/voucher', {'code': 'ABCD-EFGH'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('Vouchers are not offered',
            response.get_data(as_text=True))

    # --- reseller pages --------------------------------------------------

    def test_reseller_manages_customers(self):
        "Create a customer on its plan, set a limit, suspend, reactivate"
        client = self.sign_in('dave@example.com')
        response = self.post(client, '/reseller/customers/new', {
                'name': 'New Trunk Co', 'email': 'noc@trunk.example',
                'flavour': 'wholesale', 'billing_mode': 'postpaid',
                'credit_limit': '250', 'plan': str(self.ids['r3_plan']),
                **ADDRESS})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        account_id = int(response.headers['Location'].split('/')[-1]
            .split('?')[0])
        self.post(client, f'/reseller/customers/{account_id}/suspend')
        with self.db():
            account = Pool().get('telecom.account')(account_id)
            self.assertEqual(account.company.party.name, 'Reseller Three')
            # Where its invoices go: what a billing run needs.
            address = account.party.address_get(type='invoice')
            self.assertEqual(
                (address.street, address.postal_code, address.city,
                    address.country.code),
                ('3 Quay Street', 'BS1 4QA', 'Bristol', 'GB'))
            self.assertEqual(account.credit_limit, Decimal(250))
            self.assertEqual(
                [p.id for p in account.rate_plans], [self.ids['r3_plan']])
            self.assertEqual(account.state, 'suspended')
        self.post(client, f'/reseller/customers/{account_id}/activate')
        with self.db():
            account = Pool().get('telecom.account')(account_id)
            self.assertEqual(account.state, 'active')

    def test_reseller_saves_customer_with_plan_unchanged(self):
        "The customer form saved as it is shown keeps the customer's plan"
        client = self.sign_in('dave@example.com')
        response = self.post(client, '/reseller/customers/new', {
                'name': 'Kept Plan Co', 'flavour': 'residential',
                'billing_mode': 'postpaid', 'credit_limit': '10',
                'plan': str(self.ids['r3_plan']), **ADDRESS})
        path = response.headers['Location'].split('?')[0]
        page = self.get(client, path).get_data(as_text=True)
        form = page[page.index(f'action="{path}"'):]
        form = form[:form.index('</form>')]
        data = dict(re.findall(r'<input[^>]* name="([^"]+)" value="([^"]*)"',
                form))
        data.update(re.findall(r'<input[^>]*id="f-[^"]+"[^>]* name="([^"]+)"'
                r'[^>]* value="([^"]*)"', form))
        for name, options in re.findall(
                r'<select[^>]* name="([^"]+)"[^>]*>(.*?)</select>', form,
                re.S):
            selected = re.search(r'<option value="([^"]*)" selected', options)
            data[name] = selected.group(1) if selected else ''
        response = self.post(client, path, data, token=data['csrf_token'])
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        with self.db():
            account = Pool().get('telecom.account')(int(path.split('/')[-1]))
            self.assertEqual(
                [p.id for p in account.rate_plans], [self.ids['r3_plan']])

    def test_reseller_form_errors(self):
        "Bad values and a plan of another tenant: errors by field, no change"
        client = self.sign_in('dave@example.com')
        response = self.post(client, '/reseller/customers/new', {
                'name': '', 'flavour': 'pbx', 'billing_mode': 'prepaid',
                'credit_limit': '-5', 'plan': str(self.ids['owner_plan']),
                'street': '', 'postal_code': '', 'city': '',
                'country': 'XX'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        for name in ['name', 'credit_limit', 'plan', 'street',
                'postal_code', 'city', 'country']:
            self.assertIn(f'id="e-{name}"', body)
        self.assertIn("Choose one of the countries.", body)
        with self.db():
            Account = Pool().get('telecom.account')
            self.assertEqual(Account.search([('credit_limit', '<', 0)]), [])

    def test_reseller_markup(self):
        "A markup per destination group is saved on the reseller's plan"
        client = self.sign_in('dave@example.com')
        plan_id = self.ids['r3_plan']
        response = self.post(client, f'/reseller/plans/{plan_id}', {
                'group': str(self.ids['uk_mobile']), 'percent': '15',
                'per_minute': '0.005'})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        response = self.post(client, f'/reseller/plans/{plan_id}', {
                'group': str(self.ids['uk_mobile']), 'percent': 'lots'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('id="e-percent"', response.get_data(as_text=True))
        with self.db():
            Plan = Pool().get('telecom.rate.plan')
            markup, = Plan(plan_id).markups
            self.assertEqual(markup.group.id, self.ids['uk_mobile'])
            self.assertEqual(markup.percent, Decimal(15))
            self.assertEqual(markup.per_minute, Decimal('0.005'))

    def test_reseller_signup_offer(self):
        "Only the reseller's own plans are offered on sign-up, as ticked"
        client = self.sign_in('carol@example.com')
        response = self.post(client, '/reseller/plans/signup', {
                'signup': [str(self.ids['r1_plan']),
                    str(self.ids['owner_plan'])]})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        with self.db():
            Plan = Pool().get('telecom.rate.plan')
            self.assertTrue(Plan(self.ids['r1_plan']).signup)
            self.assertFalse(Plan(self.ids['owner_plan']).signup)

    # --- invoices (F30) --------------------------------------------------

    def test_invoices_and_documents(self):
        """A customer lists and downloads its invoices (PDF, UBL); its
        reseller too; nobody else"""
        ann = self.sign_in('ann@example.com')
        path = f'/invoices/{self.ids["ann_invoice"]}'
        body = self.get(ann, '/invoices').get_data(as_text=True)
        self.assertIn(f'<td>{self.ann_invoice_number}</td>', body)
        self.assertEqual(body.count('/pdf"'), 1)
        # Posted, unpaid, without payment term (no maturity): due, never
        # overdue.
        for status, listed in [('overdue', False), ('paid', False),
                ('due', True)]:
            body = self.get(ann, f'/invoices?status={status}'
                ).get_data(as_text=True)
            self.assertEqual(body.count(f'{path}/pdf"'), int(listed), status)
        self.assertIn('class="status due"', body)
        for client in [ann, self.sign_in('carol@example.com')]:
            pdf = self.get(client, path + '/pdf')
            self.assertEqual(pdf.status_code, HTTPStatus.OK)
            self.assertEqual(pdf.mimetype, 'application/pdf')
            self.assertTrue(pdf.data.startswith(b'%PDF'))
            xml = self.get(client, path + '/xml')
            self.assertEqual(xml.mimetype, 'application/xml')
            self.assertIn(b'<Invoice', xml.data)
        dave = self.sign_in('dave@example.com')
        for suffix in ['/pdf', '/xml']:
            self.assertEqual(self.get(dave, path + suffix).status_code,
                HTTPStatus.NOT_FOUND)
        self.assertNotIn(f'{path}/pdf"',
            self.get(dave, '/reseller/invoices').get_data(as_text=True))

    # --- brands (F34) ----------------------------------------------------

    def test_reseller_edits_its_brand(self):
        """A reseller edits its brand: colours only as #rrggbb, addresses
        checked, errors next to their fields, nothing saved on error; an
        SVG logo is stored without script and served sandboxed"""
        dave = self.sign_in('dave@example.com')
        body = self.get(dave, '/reseller/brand').get_data(as_text=True)
        self.assertIn('value="Three Talk"', body)
        good = {'name': 'Three Talk', 'primary_colour': '#0B6E4F',
            'secondary_colour': '#e0f2f1', 'support_email': '',
            'support_phone': '+44 20 7946 0333',
            'email_from': 'Three Talk <billing@three.example>'}
        for changes, field, text in [
                ({'primary_colour': 'red;}body{x'}, 'primary_colour',
                    'as #rrggbb'),
                ({'secondary_colour': ''}, 'secondary_colour',
                    'Fill this in.'),
                ({'email_from': 'billing at three'}, 'email_from',
                    'Write an e-mail address'),
                ({'name': ''}, 'name', 'Fill this in.'),
                ]:
            with self.subTest(field=field):
                response = self.post(
                    dave, '/reseller/brand', {**good, **changes})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                self.assertIn(text, re.search(rf'id="e-{field}">([^<]+)<',
                        response.get_data(as_text=True)).group(1))
        svg = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
            b'<script>alert(2)</script><rect width="9" height="9" '
            b'fill="#0b6e4f"/></svg>')
        response = self.post(dave, '/reseller/brand', {**good,
                'logo': (io.BytesIO(b'GIF89a not taken'), 'logo.gif')})
        self.assertIn('Send an SVG, PNG or JPEG', response.get_data(
                as_text=True))
        response = self.post(dave, '/reseller/brand', {**good,
                'logo': (io.BytesIO(svg), 'logo.svg')})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        with self.db():
            Brand = Pool().get('telecom.brand')
            brand, = Brand.search([('name', '=', 'Three Talk')])
            self.assertEqual((brand.primary_colour, brand.email_from,
                    brand.support_phone, brand.logo_type), (
                    '#0b6e4f', 'Three Talk <billing@three.example>',
                    '+44 20 7946 0333', 'image/svg+xml'))
            logo = bytes(brand.logo)
        self.assertNotIn(b'script', logo)
        self.assertNotIn(b'onload', logo)
        self.assertIn(b'<rect width="9"', logo)
        response = self.get(dave, '/brand/logo')
        self.assertEqual(response.get_data(), logo)
        self.assertIn('sandbox', response.headers['Content-Security-Policy'])
        # The customers of Reseller Three see the new colour.
        page = self.get(self.sign_in('bob@example.com'), '/account')
        self.assertIn('--primary: #0b6e4f', page.get_data(as_text=True))

    def test_reseller_reminds_then_marks_paid(self):
        """A reseller e-mails its customer a reminder of an unpaid invoice
        (the brand's name, the customer's invoice e-mail), then marks it
        paid: reconciled, listed paid, neither action possible again"""
        carol = self.sign_in('carol@example.com')
        invoice_id = self.ids['ann_invoice']
        body = self.get(carol, '/reseller/invoices').get_data(as_text=True)
        self.assertIn(f'/reseller/invoices/{invoice_id}/remind', body)
        sent = []
        # With the mail server down, the reseller is told in the invoice's
        # row, at once; nothing is logged as sent.
        with smtp_down():
            response = self.post(
                carol, f'/reseller/invoices/{invoice_id}/remind')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertRegex(response.get_data(as_text=True),
            f'<p class="error" role="alert" id="refused-{invoice_id}">The '
            'reminder was not sent: the mail server did not take the '
            r'message \(ConnectionRefusedError\)\. Try again later\.</p>')
        # The reminder goes through telecom_billing's Invoice.telecom_mail,
        # sent while the reseller waits.
        with patch.object(scope, 'send_now', sent.append):
            response = self.post(
                carol, f'/reseller/invoices/{invoice_id}/remind')
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        message, = sent
        self.assertEqual(message['To'],
            '"<script>alert(\\"x\\")</script> Ann Ltd" '
            '<ap@r1-customer.example>')
        self.assertIn(
            f'payment reminder for invoice {self.ann_invoice_number}',
            message['Subject'])
        # Ann's invoice of 0.11 (5 minutes at 0.0220), all of it to pay.
        text = message.get_body(('plain',)).get_content()
        self.assertIn('0.11 EUR to pay', text)
        with self.db():
            Email = Pool().get('ir.email')
            self.assertEqual(Email.search([('resource', '=',
                            f'account.invoice,{invoice_id}')], count=True), 1)

        # Received on a date of the fixture's fiscal year (2024).
        response = self.post(carol, f'/reseller/invoices/{invoice_id}/paid',
            {'date': 'not a date'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn(f'<p class="error" role="alert" id="refused-'
            f'{invoice_id}">Received on: Write the date as YYYY-MM-DD',
            response.get_data(as_text=True))

        # Without a method for payments received, the reseller reads why
        # in the invoice's row, on the list it acted from.
        with self.db() as transaction:
            Method = Pool().get('account.invoice.payment.method')
            method, = Method.search([('name', '=', "Bank transfer")])
            values = {'name': method.name, 'company': method.company.id,
                'journal': method.journal.id,
                'debit_account': method.debit_account.id,
                'credit_account': method.credit_account.id}
            Method.delete([method])
            transaction.commit()
        response = self.post(carol, f'/reseller/invoices/{invoice_id}/paid',
            {'date': '2024-02-15'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        self.assertIn(f'<p class="error" role="alert" id="refused-'
            f'{invoice_id}">You have no payment method for received '
            'payments yet: add one in the back office (Invoice Payment '
            'Methods), then mark the invoice paid.</p>', body)
        self.assertIn('<h1>Invoices</h1>', body)
        with self.db() as transaction:
            Method = Pool().get('account.invoice.payment.method')
            self.assertEqual(
                Pool().get('account.invoice')(invoice_id).state, 'posted')
            Method.create([values])
            transaction.commit()

        response = self.post(carol, f'/reseller/invoices/{invoice_id}/paid',
            {'date': '2024-02-15'})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER,
            response.get_data(as_text=True))
        with self.db():
            invoice = Pool().get('account.invoice')(invoice_id)
            self.assertEqual(invoice.state, 'paid')
            self.assertEqual(invoice.amount_to_pay, Decimal(0))
        body = self.get(carol, '/reseller/invoices?status=paid').get_data(
            as_text=True)
        self.assertIn(self.ann_invoice_number, body)
        for action in ['paid', 'remind']:
            response = self.post(
                carol, f'/reseller/invoices/{invoice_id}/{action}')
            self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
            self.assertIn('only an unpaid invoice',
                response.get_data(as_text=True))

    def test_brand_by_host_and_by_account(self):
        "The Host picks the brand; once signed in, the account's tenant's"
        for host, name, colour in [
                ('one.portal.test', "One Voice", '#7a1f5c'),
                ('three.portal.test', "Three Talk", '#0b6e4f'),
                ('portal.test', "Customer portal", '#1f3a5f')]:
            with self.subTest(host=host):
                body = self.client().get('/login',
                    base_url=f'https://{host}').get_data(as_text=True)
                self.assertIn(f'<title>Sign in · {name}</title>', body)
                self.assertIn(f'--primary: {colour};', body)
        client = self.client()
        client.post('/login', base_url='https://three.portal.test', data={
                'email': 'ann@example.com', 'password': PASSWORD,
                'csrf_token': csrf_of(client.get(
                        '/login', base_url='https://three.portal.test'))})
        body = client.get('/account', base_url='https://three.portal.test'
            ).get_data(as_text=True)
        # Ann's plan names the brand "R1 Voice" (the fixture's): it wins
        # over the host's and over her tenant's default brand.
        self.assertIn('<title>Your PBX · R1 Voice</title>', body)
        self.assertIn('+44 20 7946 0000', body)
        self.assertNotIn('Three Talk', body)
        # A reseller sees its own default brand.
        carol = self.sign_in('carol@example.com')
        body = self.get(carol, '/reseller/plans').get_data(as_text=True)
        self.assertIn('<title>Rate plans · One Voice</title>', body)

    # --- sign-up (F35) ---------------------------------------------------

    def test_signup_validate_and_top_up(self):
        """Sign up on a reseller's brand: its offered plans only, errors by
        field, an e-mail with a link that signs in once"""
        base = 'https://one.portal.test'
        client = self.client()
        body = client.get('/signup', base_url=base).get_data(as_text=True)
        self.assertIn('R1 retail', body)
        self.assertNotIn('Owner wholesale', body)
        token = csrf_of(client.get('/signup', base_url=base))
        response = client.post('/signup', base_url=base, data={
                'csrf_token': token, 'plan': str(self.ids['owner_plan']),
                'name': '', 'email': 'ann@example.com', 'password': 'x',
                'flavour': 'residential', 'billing_mode': 'prepaid'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        # The address too: invoices need it.
        for name in ['plan', 'name', 'email', 'password', 'street',
                'postal_code', 'city', 'country']:
            self.assertIn(f'id="e-{name}"', body)

        frank = {'csrf_token': token, 'plan': str(self.ids['r1_plan']),
            'name': 'Frank Home', 'email': 'Frank@Example.com',
            'password': 'Frank-Passw0rd-2026', 'flavour': 'residential',
            'billing_mode': 'prepaid', **ADDRESS}
        # The mail server down: said next to the e-mail, nothing created.
        with smtp_down():
            response = client.post('/signup', base_url=base, data=frank)
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('<p class="error" id="e-email">We could not send the '
            'confirmation e-mail just now: the mail server did not take '
            'the message (ConnectionRefusedError). Nothing was created; '
            'please try again in a few minutes.</p>',
            response.get_data(as_text=True))
        with self.db():
            self.assertEqual(Pool().get('web.user').search(
                    [('email', '=', 'frank@example.com')]), [])

        sent = []
        with patch.object(views_signup, 'send_now', sent.append):
            response = client.post('/signup', base_url=base, data=frank)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(response.headers['Location'], '/signup/sent')
        message, = sent
        self.assertEqual(message['To'], 'frank@example.com')
        # The server's sender, on behalf of the brand (trytond's rule for
        # another domain); replies go to the brand.
        self.assertEqual(message['Reply-To'], 'hello@one.example')
        text = message.get_body(('html',)).get_content()
        link = re.search(
            r'(https://one\.portal\.test/signup/validate\?token=\w+)', text
            ).group(1)

        # Not before the e-mail is confirmed.
        response = self.post(self.client(), '/login', {
                'email': 'frank@example.com',
                'password': 'Frank-Passw0rd-2026'})
        self.assertIn('id="e-email"', response.get_data(as_text=True))

        # The client keeps cookies of a full URL under "localhost": give it
        # the path on the brand's host.
        link = link[len(base):]
        response = client.get(link, base_url=base)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(response.headers['Location'], '/top-up')
        body = client.get('/top-up', base_url=base).get_data(as_text=True)
        self.assertIn('Top up your balance', body)
        self.assertEqual(
            self.client().get(link, base_url=base).status_code,
            HTTPStatus.BAD_REQUEST)
        with self.db():
            WebUser = Pool().get('web.user')
            user, = WebUser.search([('email', '=', 'frank@example.com')])
            account = user.telecom_account
            self.assertTrue(user.email_valid)
            self.assertEqual(account.company.party.name, 'Reseller One')
            self.assertEqual(account.billing_mode, 'prepaid')
            self.assertEqual(
                [p.id for p in account.rate_plans], [self.ids['r1_plan']])
            address = account.party.address_get(type='invoice')
            self.assertEqual(
                (address.street, address.postal_code, address.city,
                    address.country.code),
                ('3 Quay Street', 'BS1 4QA', 'Bristol', 'GB'))

    def test_password_reset(self):
        """A forgotten password: a link e-mailed at once by the brand's
        site that sets a new password once; the mail server down is said;
        another tenant's site neither sends a link nor takes one"""
        base, other = 'https://one.portal.test', 'https://three.portal.test'
        client = self.client()
        # Each site's form has its own token (its cookie is the host's).
        tokens = {site: csrf_of(client.get('/password/forgot', base_url=site))
            for site in [base, other]}

        def forgot(email, site=base):
            return client.post('/password/forgot', base_url=site,
                data={'csrf_token': tokens[site], 'email': email})
        with smtp_down():
            response = forgot('erin@example.com')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('<p class="error" id="e-email">We could not send the '
            'e-mail just now: the mail server did not take the message '
            '(ConnectionRefusedError). Please try again in a few '
            'minutes.</p>', response.get_data(as_text=True))

        sent = []
        with patch.object(views_password, 'send_now', sent.append):
            # Reseller Three's site does not serve Erin (Sub Reseller Two's
            # customer, under Reseller One): the answer of an unknown one.
            # Reseller One's serves its own customer Ann and Erin.
            for email, site in [('erin@example.com', other),
                    ('nobody@example.com', base),
                    ('ann@example.com', base),
                    ('Erin@Example.com', base)]:
                response = forgot(email, site)
                self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
                self.assertEqual(response.headers['Location'],
                    '/login?done=reset-sent')
        self.assertEqual([m['To'] for m in sent],
            ['ann@example.com', 'erin@example.com'])
        message = sent[-1]
        del sent[:]
        self.assertEqual(message['To'], 'erin@example.com')
        self.assertEqual(message['Reply-To'], 'hello@one.example')
        link = re.search(r'https://one\.portal\.test(/password/reset\?[^"]+)',
            message.get_body(('html',)).get_content()).group(1)
        link = link.replace('&amp;', '&')
        body = client.get(link, base_url=base).get_data(as_text=True)
        fields = dict(re.findall(
                r'<input type="hidden" name="(email|token)" value="([^"]*)"',
                body))
        self.assertEqual(fields['email'], 'erin@example.com')

        def choose(password, site=base):
            return client.post('/password/reset', base_url=site, data={
                    'csrf_token': tokens[site], 'password': password,
                    **fields})
        used = ("This link was already used or has expired: ask for a new "
            "one.")
        # Not taken on another tenant's site, nor a weak password …
        response = choose('New-Erin-Passw0rd-2026', other)
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn(used, response.get_data(as_text=True))
        response = choose('x')
        self.assertIn('id="e-password"', response.get_data(as_text=True))
        # … then once.
        response = choose('New-Erin-Passw0rd-2026')
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(response.headers['Location'],
            '/login?done=password-reset')
        response = choose('Other-Erin-Passw0rd-2026')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn(used, response.get_data(as_text=True))
        response = self.post(self.client(), '/login', {
                'email': 'erin@example.com',
                'password': 'New-Erin-Passw0rd-2026'})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)

        # A link past its time does not work either.
        with patch.object(views_password, 'send_now', sent.append):
            forgot('erin@example.com')
        with self.db() as transaction:
            WebUser = Pool().get('web.user')
            erin, = WebUser.search([('email', '=', 'erin@example.com')])
            fields['token'] = erin.reset_password_token
            WebUser.write([erin], {'reset_password_token_expire':
                    dt.datetime.now() - dt.timedelta(seconds=1)})
            transaction.commit()
        response = choose('Late-Erin-Passw0rd-2026')
        self.assertIn(used, response.get_data(as_text=True))
        with self.db() as transaction:
            WebUser = Pool().get('web.user')
            erin, = WebUser.search([('email', '=', 'erin@example.com')])
            self.assertEqual(WebUser.check_password(
                    'New-Erin-Passw0rd-2026', erin.password_hash)[0], True)
            # The other tests sign in with the fixture's password.
            WebUser.write([erin], {'password': PASSWORD})
            transaction.commit()

    def test_signup_not_offered(self):
        "A brand whose tenant offers no plan has no sign-up"
        response = self.client().get(
            '/signup', base_url='https://three.portal.test')
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
