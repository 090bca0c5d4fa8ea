"""The customer and reseller portal of `make demo`, in a real browser
(Debian's Chromium through Playwright): each customer flavour, two brands
on two host names, sign-up with the e-mail link caught by a local SMTP
server, a PayPal top-up through Braintree (telecom_payment's sandbox
stand-in: only HTTP is replaced), calls placed through a real
telecom-callcontrol on the same database and rated by its rating worker,
a reseller changing a markup, an invoice downloaded. Saves
docs/screenshots/portal-*.png.

Prices of the demo (telecom_base/demo.py): Bluebell buys on "Northwind
Wholesale" (UK mobiles 447: 0.0500 a minute, France 33: 0.0150; first 60 s
then per second) and sells on "Bluebell Home" with 25 % on all
destinations but UK mobiles (40 %); its 100 included minutes are for UK
fixed numbers, so the calls here go to mobiles and to France.
"""
import email
import io
import json
import os
import re
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from email import policy
from types import SimpleNamespace

import httpx
import pytest

from trytond.modules.telecom_payment.tests.braintree_sandbox import Sandbox

from .conftest import (
    BIN, CHROMIUM, CHROMIUM_ARGS, ROOT, copy_demo, free_port, serve,
    sqlite_env)

SCREENSHOTS = os.path.join(ROOT, 'docs', 'screenshots')
PASSWORD = 'portal-demo-2026'


class Mailbox(socketserver.ThreadingTCPServer):
    "Just enough SMTP to receive what trytond sends; keeps the messages"
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages = []
        super().__init__(('127.0.0.1', 0), SmtpHandler)


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        self.reply('220 portal-test ESMTP')
        while line := self.rfile.readline():
            command = line.decode(errors='replace').strip().upper()
            if command.startswith(('EHLO', 'HELO')):
                self.reply('250 portal-test')
            elif command == 'DATA':
                self.reply('354 end with .')
                data = []
                while (line := self.rfile.readline()) not in {
                        b'.\r\n', b'.\n', b''}:
                    data.append(line[1:] if line.startswith(b'..') else line)
                self.server.messages.append(email.message_from_bytes(
                        b''.join(data), policy=policy.default))
                self.reply('250 queued')
            elif command == 'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('250 ok')


@pytest.fixture(scope='module')
def mailbox():
    server = Mailbox()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


# The operator's set-up of Bluebell for the scenario, as in its back office:
# a Braintree sandbox merchant account settling at once and the PayPal
# payment journal of its top-ups. Its books (chart, VAT, this year, the
# usage product, the prepaid ledger's accounts) are the demo's.
PAYMENT_SETUP = """
Company = pool.get('company.company')
PaymentJournal = pool.get('account.payment.journal')
Merchant = pool.get('account.payment.braintree.account')
bluebell, = Company.search([('party.name', '=', 'Bluebell Telecom')])
with Transaction().set_context(company=bluebell.id):
    merchant, = Merchant.create([{
                'name': 'Bluebell PayPal', 'environment': 'sandbox',
                'currency': bluebell.currency.id,
                'merchant_id': 'bluebell', 'public_key': 'public',
                'private_key': 'private',
                'sandbox_settle_transaction': True}])
    PaymentJournal.create([{
                'name': 'PayPal', 'company': bluebell.id,
                'currency': bluebell.currency.id,
                'process_method': 'braintree',
                'braintree_account': merchant.id}])
result = bluebell.id
"""


class Platform(SimpleNamespace):
    "The demo database served by the portal and by telecom-callcontrol"

    def tryton(self, code):
        "Run ``code`` in a transaction of the database; return ``result``"
        result = subprocess.run(
            [sys.executable, '-m', 'tests.e2e.tryton_exec',
                str(self.config), 'demo'], input=code, env=self.env,
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def api(self):
        "A client of the call-control API, as the demo's switch"
        return httpx.Client(base_url=self.api_url, timeout=30,
            headers={'Authorization': 'Bearer demo-switch-key'})

    def call(self, sip_username, callee, seconds, price_per_minute):
        """A call of ``seconds`` through the call-control API: authorized
        (once the API's snapshot prices it at ``price_per_minute``),
        answered, ended, its CDR posted; return its call id once the rating
        worker rated it."""
        call_id = f'portal-{uuid.uuid4().hex[:12]}'
        deadline = time.monotonic() + 30
        with self.api() as api:
            while True:
                answer = api.post('/v1/authorize', json={
                        'call_id': call_id, 'sip_username': sip_username,
                        'callee': callee}).json()
                # A new account, credential or price is in the API's
                # snapshot within its refresh period.
                if (answer.get('decision') == 'allow' and Decimal(
                            answer['price_per_minute']) == price_per_minute):
                    break
                assert time.monotonic() < deadline, answer
                time.sleep(0.5)
            end = time.time()
            start = end - seconds

            def instant(value):
                return time.strftime(
                    '%Y-%m-%dT%H:%M:%SZ', time.gmtime(value))
            assert api.post(f'/v1/calls/{call_id}/answer', json={
                    'answered_at': instant(start)}).status_code == 204
            assert api.post(f'/v1/calls/{call_id}/end', json={
                    'ended_at': instant(end)}).status_code == 204
            stored = api.post('/v1/cdrs', json={
                    'call_id': call_id, 'callee': callee,
                    'start': instant(start), 'answer': instant(start),
                    'end': instant(end), 'billable_seconds': seconds,
                    'hangup_cause': 16}).json()
            assert stored['accepted'] == 1, stored
        deadline = time.monotonic() + 60
        while self.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = [c.state for c in Cdr.search([('call_id', '=', {call_id!r})])]
""") != ['rated']:
            assert time.monotonic() < deadline, f"{call_id} not rated"
            time.sleep(0.5)
        return call_id


@pytest.fixture(scope='module')
def portal(tmp_path_factory, mailbox, demo_database):
    """A copy of the demo database (telecom demo-setup, then the portal's
    demo log-ins and brands) with Bluebell's payments set up, served by
    telecom-portal (its Braintree sandbox on the local stand-in) and by
    telecom-callcontrol on free ports"""
    db_path = tmp_path_factory.mktemp('portal-db')
    copy_demo(demo_database, db_path)
    port = free_port()
    # The suite's configuration, mailing to the test's SMTP server.
    config = db_path / 'trytond.conf'
    with open(os.path.join(ROOT, 'etc', 'trytond.conf')) as source:
        config.write_text(re.sub(r'(?m)^uri = smtp://.*$',
                f'uri = smtp://127.0.0.1:{mailbox.server_address[1]}',
                source.read()))
    env = sqlite_env(db_path, TRYTOND_CACHE__CLEAN_TIMEOUT='0')
    platform = Platform(port=port, config=config, env=env)
    platform.tryton(PAYMENT_SETUP)
    api_port = free_port()
    platform.api_url = f'http://127.0.0.1:{api_port}'
    with Sandbox() as sandbox, \
            serve([sys.executable, '-m', 'tests.e2e.portal_braintree',
                '-c', str(config), '-d', 'demo', '--insecure-cookies',
                '--listen', f'127.0.0.1:{port}'],
            {**env, 'BRAINTREE_SANDBOX': f'127.0.0.1:{sandbox.port}'},
            f'http://127.0.0.1:{port}/login', db_path / 'portal.log'), \
            serve([os.path.join(BIN, 'telecom-callcontrol'), '-c',
                str(config), '-d', 'demo', '--listen',
                f'127.0.0.1:{api_port}', '--refresh', '0.5',
                '--rater-poll', '0.3'], env, platform.api_url + '/health',
            db_path / 'api.log', timeout=120):
        platform.sandbox = sandbox
        yield platform


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + [
                # The second brand's host name, on this machine.
                '--host-resolver-rules=MAP *.localhost 127.0.0.1'])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone(browser):
    "A phone-sized screen"
    context = browser.new_context(
        viewport={'width': 390, 'height': 844}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def desktop(page):
    "conftest's page, from this module's browser (it resolves *.localhost)"
    return page


def shot(page, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENSHOTS, name), full_page=True)


def sign_in(page, base, email_address, password=PASSWORD):
    page.goto(f'{base}/login')
    # Keyboard only: the skip link first, then the fields by their labels.
    page.keyboard.press('Tab')
    assert page.evaluate('document.activeElement.className') == 'skip'
    page.get_by_label('E-mail').fill(email_address)
    page.get_by_label('Password').fill(password)
    page.get_by_label('Password').press('Enter')
    page.wait_for_url(re.compile(r'.*/(account|reseller/customers)$'))


@pytest.mark.parametrize('login, flavour, heading', [
        ('acme@demo.example', 'pbx', 'PBX'),
        ('globex@demo.example', 'wholesale', 'wholesale trunk'),
        ('rosa@demo.example', 'residential', 'Your phone lines'),
        ])
def test_customer_flavours(portal, desktop, login, flavour, heading):
    base = f'http://127.0.0.1:{portal.port}'
    sign_in(desktop, base, login)
    assert heading in desktop.inner_text('main')
    assert desktop.locator('svg.chart').count() == 1
    shot(desktop, f'portal-{flavour}.png')
    desktop.click('text=Calls')
    desktop.wait_for_url(re.compile(r'.*/calls$'))
    desktop.get_by_label('Number contains').fill('not a number')
    desktop.get_by_role('button', name='Filter').click()
    # The error is next to its field.
    assert 'Only digits' in desktop.inner_text('#e-number')


def test_two_brands_and_a_phone(portal, phone):
    phone.goto(f'http://127.0.0.1:{portal.port}/login')
    owner = phone.inner_text('header .brand')
    shot(phone, 'portal-brand-owner-phone.png')
    phone.goto(f'http://bluebell.localhost:{portal.port}/login')
    assert phone.inner_text('header .brand') == 'Bluebell Voice'
    assert owner != 'Bluebell Voice'
    colour = phone.evaluate(
        "getComputedStyle(document.querySelector('header.top'))"
        ".backgroundColor")
    assert colour == 'rgb(63, 81, 181)'  # #3f51b5
    shot(phone, 'portal-brand-bluebell-phone.png')
    # Nothing wider than the phone's screen.
    assert phone.evaluate(
        'document.documentElement.scrollWidth') <= 390


def test_phone_menu_and_columns(portal, browser):
    """At a phone's 375 px the menu folds behind its button, and a call's
    price and an invoice's status stay on the screen"""
    context = browser.new_context(viewport={'width': 375, 'height': 740})
    page = context.new_page()
    try:
        sign_in(page, f'http://127.0.0.1:{portal.port}', 'acme@demo.example')
        calls = page.locator('header nav a', has_text='Calls')
        assert not calls.is_visible()
        shot(page, 'portal-phone-menu-folded.png')
        page.click('label.menu-button')
        calls.click()
        page.wait_for_url(re.compile(r'.*/calls$'))

        def right_edge(selector):
            box = page.locator(selector).first.bounding_box()
            return box['x'] + box['width']
        assert right_edge('th:has-text("Price")') <= 375
        page.goto(f'http://127.0.0.1:{portal.port}/invoices')
        assert right_edge('th:has-text("Status")') <= 375
        assert right_edge('th:has-text("Total")') <= 375
        shot(page, 'portal-phone-invoices.png')
        assert page.evaluate('document.documentElement.scrollWidth') <= 375
    finally:
        context.close()


def provision(portal, name, username, login=None):
    """The operator gives the account named ``name`` a SIP line (and a
    portal log-in ``login``), as its back office does"""
    return portal.tryton(f"""
Account = pool.get('telecom.account')
Credential = pool.get('telecom.credential')
WebUser = pool.get('web.user')
account, = Account.search([('party.name', '=', {name!r})])
Credential.create([{{'account': account.id, 'kind': 'sip',
            'username': {username!r}, 'realm': 'sip.example.net',
            'password': {username!r} + '-secret'}}])
if {login!r}:
    WebUser.create([{{'email': {login!r}, 'password': {PASSWORD!r},
                'email_valid': True, 'telecom_account': account.id}}])
result = account.code
""")


def bill_bluebell(portal, start, end, customer, street):
    """Bluebell's billing run from ``start`` to ``end`` (expressions of
    ``today``), invoiced today, as its back office runs it — ``customer``'s
    invoice address (``street``) given first; return [number, total,
    state] of the customer's invoice"""
    return portal.tryton(f"""
import datetime as dt
# What posting locks (a prepaid invoice is posted by the run), asked for
# before anything is written: tryton_exec starts again holding them, and
# a run retried half-way would find itself already done.
for name in ['account.journal.period', 'ir.sequence', 'ir.sequence.strict',
        'account.move']:
    pool.get(name).lock()
Company = pool.get('company.company')
Run = pool.get('telecom.billing.run')
Party = pool.get('party.party')
Address = pool.get('party.address')
party, = Party.search([('name', '=', {customer!r})])
if not party.addresses:
    Address.create([{{'party': party.id, 'street': {street!r},
                'city': 'Bristol'}}])
bluebell, = Company.search([('party.name', '=', 'Bluebell Telecom')])
today = dt.date.today()
run = Run.bill(bluebell, {start}, {end}, invoice_date=today)
invoice, = [i for i in run.invoices if i.party == party]
if invoice.state == 'draft':
    # A postpaid customer's draft, posted as the tenant's review would.
    Invoice = pool.get('account.invoice')
    Invoice.post([invoice])
result = [invoice.number, str(invoice.total_amount), invoice.state]
""")


def invoice_pdf_text(page, number):
    "The text of the PDF of invoice ``number``, downloaded from /invoices"
    from pypdf import PdfReader
    page.click('text=Invoices')
    page.wait_for_url(re.compile(r'.*/invoices$'))
    assert number in page.inner_text('table')
    with page.expect_download() as download:
        page.click(f'text=PDF of {number}')
    data = open(download.value.path(), 'rb').read()
    return '\n'.join(
        p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_signup_top_up_call(portal, desktop, mailbox):
    """Sign up on Bluebell's brand, validate the e-mail from its link, top
    up 10.00 EUR by PayPal (a declined card first), call through the
    call-control API: the portal shows the rated call and the balance
    fallen by its price; Bluebell's monthly run invoices the prepaid
    customer, the invoice paid from the balance, and the customer downloads
    it"""
    base = f'http://bluebell.localhost:{portal.port}'
    desktop.goto(f'{base}/signup')
    desktop.get_by_label('Name or company').fill('Walter Walk-in')
    desktop.get_by_label('E-mail').fill('walter@walkin.example')
    desktop.get_by_label('Password').fill('Walter-Passw0rd-2026')
    desktop.get_by_label('Payment').select_option('prepaid')
    # The address its invoices need.
    desktop.get_by_label('Street and number').fill('1 Harbour Road')
    desktop.get_by_label('Postal code').fill('BS1 4QA')
    desktop.get_by_label('City').fill('Bristol')
    desktop.get_by_label('Country').select_option('GB')
    shot(desktop, 'portal-signup.png')
    desktop.get_by_role('button', name='Sign up').click()
    desktop.wait_for_url(re.compile(r'.*/signup/sent$'))
    message = next(m for m in mailbox.messages
        if m['To'] == 'walter@walkin.example')
    body = message.get_body(('html',)).get_content()
    link = re.search(r'href="([^"]+/signup/validate\?token=\w+)"', body)
    desktop.goto(link.group(1).replace('&amp;', '&'))
    desktop.wait_for_url(re.compile(r'.*/top-up$'))
    assert 'Top up your balance' in desktop.inner_text('h1')
    assert desktop.inner_text('header .brand') == 'Bluebell Voice'

    # The Drop-in's form: a card the sandbox's processor declines first.
    desktop.get_by_label('Amount in EUR').fill('10.00')
    desktop.get_by_label('Visa card the processor declines').check()
    desktop.get_by_role('button', name='Pay with PayPal').click()
    assert 'declined: Do Not Honor' in desktop.inner_text('#e-amount')
    assert desktop.get_attribute('#f-amount', 'aria-describedby') == (
        'e-amount')
    assert '0.00 EUR' in desktop.inner_text('.balance')
    shot(desktop, 'portal-top-up-declined.png')
    # Then PayPal, keyboard only: the amount, the method, Enter.
    desktop.get_by_label('Amount in EUR').fill('10.00')
    desktop.get_by_label('PayPal (sandbox account)').focus()
    desktop.keyboard.press('Space')
    shot(desktop, 'portal-top-up.png')
    desktop.get_by_label('Amount in EUR').press('Enter')
    desktop.wait_for_url(re.compile(r'.*/account\?done=top-up-credited$'))
    assert 'paid and credited' in desktop.inner_text('.notice')
    assert desktop.inner_text('.big') == '10.00 EUR'
    sales = [t for t in portal.sandbox.transactions.values()
        if t['amount'] == Decimal('10.00')]
    assert sorted((t['nonce'], t['status']) for t in sales) == [
        ('fake-paypal-one-time-nonce', 'settled'),
        ('fake-processor-declined-visa-nonce', 'processor_declined')]

    # Its line is provisioned; a call of 4 minutes to a UK mobile.
    provision(portal, 'Walter Walk-in', 'walter-home')
    # 0.0500 × 1.40 = 0.0700 a minute; 240 s = 4 × 0.0700 = 0.2800
    portal.call('walter-home', '447700900123', 240, Decimal('0.0700'))
    desktop.click('text=Calls')
    desktop.wait_for_url(re.compile(r'.*/calls$'))
    row = desktop.locator('tbody tr').first.inner_text()
    assert '447700900123' in row and '0.2800' in row, row
    shot(desktop, 'portal-calls-after-call.png')
    desktop.click('text=Account')
    # 10.00 − 0.28 = 9.72
    assert desktop.inner_text('.big') == '9.72 EUR'

    # Bluebell's run of the month: the call, 0.28 net, + 20 % VAT (the
    # demo's calls product bears it) 0.056 → 0.06 = 0.34, paid from the
    # balance at once: the call was debited when it was rated, the
    # settlement debits its VAT only.
    number, total, state = bill_bluebell(portal, 'today.replace(day=1)',
        'today', 'Walter Walk-in', '2 Walk Lane')
    assert (Decimal(total), state) == (Decimal('0.34'), 'paid')
    text = invoice_pdf_text(desktop, number)
    row = desktop.locator('tbody tr', has_text=number).inner_text()
    assert 'paid' in row and '0.34' in row, row
    shot(desktop, 'portal-invoices-prepaid.png')
    # The heading holds the number (numbers are short: "1" alone proves
    # nothing).
    assert f'Invoice {number}' in text, text
    assert 'Walter Walk-in' in text and '0.28' in text
    desktop.click('text=Account')
    # 9.72 − 0.06 VAT = 9.66
    assert desktop.inner_text('.big') == '9.66 EUR'


def shop_orders(portal, customer):
    "[number, untaxed, tax, total, state] of ``customer``'s invoices"
    return portal.tryton(f"""
Invoice = pool.get('account.invoice')
Sale = pool.get('sale.sale')
result = [[i.number, str(i.untaxed_amount), str(i.tax_amount),
        str(i.total_amount), i.state]
    for i in Invoice.search([('party.name', '=', {customer!r})])]
result.append(Sale.search([('party.name', '=', {customer!r})], count=True))
""")


def test_shop_prepaid_order(portal, desktop, mailbox):
    """Rosa, a prepaid customer of Bluebell, shops on its brand: only
    Bluebell's one-off products; an order above her balance is refused
    next to its quantity with nothing changed; credited, she orders the
    phone: invoiced with its VAT, paid from the balance at once, listed
    paid, its PDF downloaded and e-mailed. The owner's prepaid customer
    sees the owner's products, priced in its own currency."""
    base = f'http://bluebell.localhost:{portal.port}'
    sign_in(desktop, base, 'rosa@demo.example')
    desktop.click('text=Shop')
    desktop.wait_for_url(re.compile(r'.*/shop$'))
    main = desktop.inner_text('main')
    # Bluebell's phone: 39.00 + 20 % VAT 7.80 = 46.80 (demo.py's SHOP).
    phone = desktop.locator('li.card', has_text='Cordless SIP phone')
    assert '39.00 EUR (46.80 EUR with tax)' in phone.inner_text()
    assert 'UK landline 300 minutes' in main
    # Not the owner's products, nor a monthly service to a prepaid one.
    for name in ['SIP desk phone', 'UK mobile 100 minutes',
            'Call recording']:
        assert name not in main, name
    # The demo's welcome credit, 20.00, less its month's call (240 s at
    # 0.07 a minute = 0.28) and that invoice's VAT (0.06): 19.66.
    assert 'Paid from your balance (19.66 EUR)' in main
    before = shop_orders(portal, 'Rosa Martin')
    assert before[-1] == 0, before

    # 19.66 is short of 46.80: refused next to the quantity, nothing
    # sold, nothing invoiced, the balance as it was.
    phone.get_by_role('button', name='Buy').click()
    error = desktop.inner_text('#e-quantity')
    assert 'is 19.66 EUR and the order costs 46.80 EUR' in error, error
    assert desktop.locator('li.card', has_text='Cordless SIP phone') \
        .get_by_label('Quantity').get_attribute('aria-describedby') == (
            'e-quantity')
    assert 'Paid from your balance (19.66 EUR)' in desktop.inner_text('main')
    assert shop_orders(portal, 'Rosa Martin') == before

    # Bluebell credits a bank transfer of 30.00 as its back office would:
    # 19.66 + 30.00 = 49.66.
    portal.tryton("""
Account = pool.get('telecom.account')
BalanceLine = pool.get('telecom.balance.line')
rosa, = Account.search([('party.name', '=', 'Rosa Martin')])
BalanceLine.add_movements([{'account': rosa.id, 'amount': 30,
            'kind': 'topup', 'description': 'Bank transfer'}])
""")
    # (Not a reload: that would send the refused order again.)
    desktop.goto(f'{base}/shop')
    assert 'Paid from your balance (49.66 EUR)' in desktop.inner_text('main')
    shot(desktop, 'portal-shop.png')
    desktop.locator('li.card', has_text='Cordless SIP phone') \
        .get_by_role('button', name='Buy').click()
    desktop.wait_for_url(re.compile(r'.*/account\?done=ordered$'))
    assert 'Your order was placed' in desktop.inner_text('.notice')
    # 49.66 − 46.80 = 2.86
    assert desktop.inner_text('.big') == '2.86 EUR'
    orders = shop_orders(portal, 'Rosa Martin')
    new = [o for o in orders[:-1] if o not in before[:-1]]
    assert len(new) == 1, orders
    (number, untaxed, tax, total, state), sales = new[0], orders[-1]
    assert (untaxed, tax, total, state, sales) == (
        '39.00', '7.80', '46.80', 'paid', 1)

    text = invoice_pdf_text(desktop, number)
    # The row whose first cell is the number ("4" is also in "0.34").
    row = desktop.locator('tbody tr', has=desktop.locator(
            'td:first-child', has_text=re.compile(
                rf'^\s*{re.escape(number)}\s*$'))).inner_text()
    assert 'paid' in row and '46.80' in row, row
    assert f'Invoice {number}' in text, text
    assert 'Cordless SIP phone' in text and '46.80' in text
    # E-mailed by the queue once the order's transaction committed.
    deadline = time.monotonic() + 30
    while not any('rosa.martin@example.com' in m['To']
            and number in m['Subject'] for m in mailbox.messages):
        assert time.monotonic() < deadline, "the invoice was not e-mailed"
        time.sleep(0.5)

    # The owner's prepaid customer, in USD: 49.00 EUR × 1.08 = 52.92 USD,
    # and no VAT: the demo's books put Globex, outside the EU, under an
    # "outside the scope of VAT" tax rule (category O of its e-invoices);
    # none of Bluebell's products.
    desktop.context.clear_cookies()
    sign_in(desktop, f'http://127.0.0.1:{portal.port}', 'globex@demo.example')
    desktop.goto(f'http://127.0.0.1:{portal.port}/shop')
    main = desktop.inner_text('main')
    desk = desktop.locator('li.card', has_text='SIP desk phone').inner_text()
    assert '52.92 USD' in desk and 'with tax' not in desk, desk
    for name in ['Cordless SIP phone', 'UK landline 300 minutes']:
        assert name not in main, name


def test_reseller_changes_a_markup(portal, desktop):
    base = f'http://bluebell.localhost:{portal.port}'
    sign_in(desktop, base, 'bluebell@demo.example')
    desktop.click('text=Rate plans')
    desktop.locator('table a').first.click()
    desktop.get_by_label('Percent').fill('25')
    desktop.get_by_role('button', name='Save markup').click()
    assert 'The markup was saved' in desktop.inner_text('.notice')
    assert '25' in desktop.inner_text('table')
    shot(desktop, 'portal-reseller-plan.png')
    # The owner's prices and name are nowhere on the reseller's pages.
    for path in ['/reseller/customers', '/reseller/plans']:
        desktop.goto(base + path)
        assert 'Northwind' not in desktop.content()


def test_markup_prices_the_next_call_and_invoice(portal, desktop, browser):
    """Bluebell marks calls to France up 60 %: its postpaid customer's
    next call, priced by the call-control API and rated by its worker,
    costs that; invoiced by Bluebell's monthly run, the customer downloads
    the invoice's PDF from the portal"""
    base = f'http://bluebell.localhost:{portal.port}'
    sign_in(desktop, base, 'bluebell@demo.example')
    desktop.click('text=Rate plans')
    desktop.click('text=Bluebell Home')
    desktop.get_by_label('Destination group').select_option(
        label='France')
    desktop.get_by_label('Percent').fill('60')
    desktop.get_by_role('button', name='Save markup').click()
    assert 'The markup was saved' in desktop.inner_text('.notice')
    assert 'France\t60' in desktop.inner_text('table')

    provision(portal, 'Harbour Dental', 'harbour-desk',
        'harbour@demo.example')
    # 0.0150 × 1.60 = 0.0240 a minute; 300 s = 5 × 0.0240 = 0.1200
    call_id = portal.call(
        'harbour-desk', '0033142000000', 300, Decimal('0.0240'))
    amounts = portal.tryton(f"""
Cdr = pool.get('telecom.cdr')
cdr, = Cdr.search([('call_id', '=', {call_id!r})])
result = [str(c.amount) for c in cdr.charges
    if c.current and c.account == cdr.account]
""")
    assert [Decimal(a) for a in amounts] == [Decimal('0.1200')]

    # Bluebell's run of the next month: this month's ran when Walter's
    # invoice was made (test_signup_top_up_call), and a call made since is
    # caught up by the next run.
    number, total, state = bill_bluebell(portal,
        '(today.replace(day=1) + dt.timedelta(days=31)).replace(day=1)',
        '(today.replace(day=1) + dt.timedelta(days=62)).replace(day=1)'
        ' - dt.timedelta(days=1)', 'Harbour Dental', '1 Quay Street')
    # One line, 0.12, + 20 % VAT 0.024 → 0.02 = 0.14
    assert (Decimal(total), state) == (Decimal('0.14'), 'posted')

    context = browser.new_context(
        viewport={'width': 1280, 'height': 800}, accept_downloads=True)
    harbour = context.new_page()
    try:
        sign_in(harbour, base, 'harbour@demo.example')
        text = invoice_pdf_text(harbour, number)
        shot(harbour, 'portal-invoices.png')
    finally:
        context.close()
    assert f'Invoice {number}' in text, text
    assert 'Harbour Dental' in text
    assert '0.12' in text


def test_new_pages_on_a_phone(portal, phone):
    """The reseller's brand, vouchers and invoices, and a customer's direct
    debit fit a phone's screen; a voucher batch and a mandate are made
    with the keyboard only, errors next to their fields"""
    base = f'http://bluebell.localhost:{portal.port}'
    sign_in(phone, base, 'bluebell@demo.example')
    for path, name in [('/reseller/brand', 'portal-reseller-brand.png'),
            ('/reseller/invoices', 'portal-reseller-invoices.png')]:
        phone.goto(base + path)
        shot(phone, name)
        wide = phone.evaluate("""[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 391)
            .map(e => e.tagName + '.' + e.className + '#' + e.id)
            .slice(0, 8)""")
        assert phone.evaluate(
            'document.documentElement.scrollWidth') <= 390, wide
    phone.goto(base + '/reseller/vouchers')
    phone.get_by_label('Name').focus()
    phone.keyboard.type('Market stall')
    phone.keyboard.press('Tab')
    phone.keyboard.type('5.00')
    phone.keyboard.press('Tab')
    phone.keyboard.press('Tab')
    phone.keyboard.type('0')
    phone.keyboard.press('Enter')
    # No expiry and no quantity: said next to each.
    assert 'A whole number from 1' in phone.inner_text('#e-quantity')
    assert 'Fill this in' in phone.inner_text('#e-expiry')
    phone.get_by_label('Number of vouchers').fill('20')
    phone.get_by_label('Last day to redeem').fill('2030-12-31')
    phone.get_by_label('Number of vouchers').press('Enter')
    phone.wait_for_url(re.compile(r'.*/reseller/vouchers\?done=vouchers'))
    assert 'Market stall' in phone.inner_text('table')
    assert phone.evaluate('document.documentElement.scrollWidth') <= 390
    shot(phone, 'portal-reseller-vouchers.png')

    phone.context.clear_cookies()
    sign_in(phone, f'http://127.0.0.1:{portal.port}', 'acme@demo.example')
    phone.goto(f'http://127.0.0.1:{portal.port}/direct-debit')
    phone.get_by_label('IBAN').fill('BE85 7355 5692 7307')
    phone.get_by_label('Street and number').fill('1 Acme Way')
    phone.get_by_label('Postal code').fill('EC1A 1BB')
    phone.get_by_label('City').fill('London')
    phone.get_by_label('City').press('Enter')
    assert 'not a valid IBAN' in phone.inner_text('#e-iban')
    assert 'Tick this box' in phone.inner_text('#e-consent')
    shot(phone, 'portal-direct-debit-errors.png')
    phone.get_by_label('IBAN').fill('BE85 7355 5692 7306')
    phone.locator('#f-consent').focus()
    phone.keyboard.press('Space')
    phone.get_by_label('City').press('Enter')
    phone.wait_for_url(re.compile(r'.*/direct-debit\?done=mandate$'))
    assert 'awaiting confirmation' in phone.inner_text('table')
    assert phone.evaluate('document.documentElement.scrollWidth') <= 390
    shot(phone, 'portal-direct-debit.png')
