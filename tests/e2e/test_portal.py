"""The customer and reseller portal of `make demo`, in a real browser
(Debian's Chromium through Playwright): each customer flavour, two brands
on two host names, sign-up with the e-mail link caught by a local SMTP
server, a reseller changing a markup. Saves docs/screenshots/portal-*.png.
"""
import email
import os
import re
import socketserver
import threading
from email import policy

import pytest

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


@pytest.fixture(scope='module')
def portal(tmp_path_factory, mailbox, demo_database):
    """A copy of the demo database (telecom demo-setup, then the portal's
    demo log-ins and brands) served by telecom-portal on a free port"""
    db_path = tmp_path_factory.mktemp('portal-db')
    copy_demo(demo_database, db_path)
    port = free_port()
    # The suite's configuration, mailing to the test's SMTP server.
    config = db_path / 'trytond.conf'
    with open(os.path.join(ROOT, 'etc', 'trytond.conf')) as source:
        config.write_text(re.sub(r'(?m)^uri = smtp://.*$',
                f'uri = smtp://127.0.0.1:{mailbox.server_address[1]}',
                source.read()))
    with serve([os.path.join(BIN, 'telecom-portal'), '-c', str(config),
                '-d', 'demo', '--insecure-cookies',
                '--listen', f'127.0.0.1:{port}'],
            sqlite_env(db_path), f'http://127.0.0.1:{port}/login',
            db_path / 'portal.log'):
        yield port


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
    base = f'http://127.0.0.1:{portal}'
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
    phone.goto(f'http://127.0.0.1:{portal}/login')
    owner = phone.inner_text('header .brand')
    shot(phone, 'portal-brand-owner-phone.png')
    phone.goto(f'http://bluebell.localhost:{portal}/login')
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


def test_signup_validate_sign_in(portal, desktop, mailbox):
    base = f'http://bluebell.localhost:{portal}'
    desktop.goto(f'{base}/signup')
    desktop.get_by_label('Name or company').fill('Walter Walk-in')
    desktop.get_by_label('E-mail').fill('walter@walkin.example')
    desktop.get_by_label('Password').fill('Walter-Passw0rd-2026')
    desktop.get_by_label('Payment').select_option('prepaid')
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


def test_reseller_changes_a_markup(portal, desktop):
    base = f'http://bluebell.localhost:{portal}'
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
