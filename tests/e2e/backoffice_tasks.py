"""Browser tests of the back office not collected yet (the file is not
named test_*): written with the wizards they drive, not passing yet.

* Onboarding a reseller and its first customer: the wizards work (their
  module tests pass), but typing the country into the Many2One of the
  wizard's form opens sao's search window (the country's name shows its
  flag), which this test does not yet pick from reliably.
* A billing run that skips a customer without address: the dates typed
  into sao's date widgets of "Invoice a Period" are not taken (End Date
  left empty), so the run is not made.

Rename to test_backoffice_tasks.py once they pass:
  make test-sqlite TESTS=tests/e2e/backoffice_tasks.py
"""
import datetime as dt

from .test_backoffice import fill_form, login, open_accounts, screenshot


def open_menu(page, *path):
    "Activate the menu entry ``path`` (Telecom, New Customer), as a user"
    for name in path:
        page.click(f'#menu >> text="{name}"')


def run_wizard(page, values):
    "Fill the wizard dialog in front; fail on a dialog opened over it"
    dialog = page.locator('.wizard-dialog:visible').last
    dialog.locator('input[name=street]').wait_for()
    fill_form(dialog, values)
    over = page.evaluate("""() => jQuery('.modal:visible')
        .not('.wizard-dialog').text()""")
    assert not over, over
    return dialog


def test_onboard_reseller_and_its_first_customer(demo_server, browser):
    """The owner onboards a reseller with one wizard; the reseller's new
    administrator logs in and creates its first customer with a SIP line
    with the other"""
    owner = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = owner.new_page()
    login(page, demo_server, 'admin', 'owner-demo-2026')
    open_menu(page, "Telecom", "Onboard Reseller")
    dialog = run_wizard(page, {
            'name': "Delta Voice", 'street': "5 Quay Street",
            'city': "Bristol", 'country': "United Kingdom",
            'login': 'delta', 'user_name': "Dora Delta",
            'password': 'Harbour-Quay-2026',
            'portal_email': 'dora@delta.example',
            'portal_password': 'Harbour-Portal-2026',
            'brand': "Delta Voice",
            })
    screenshot(page, 'backoffice-onboard-reseller.png')
    dialog.locator('button:has-text("Create")').click()
    # The reseller's account on the owner opens.
    form = page.locator('#tabcontent > .tab-pane.active .form')
    form.locator('input[name=party]').wait_for()
    page.wait_for_function("""() => jQuery('#tabcontent > .tab-pane.active'
        + ' .form input[name=party]').val() === 'Delta Voice'""")
    owner.close()

    reseller = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = reseller.new_page()
    login(page, demo_server, 'delta', 'Harbour-Quay-2026')
    open_menu(page, "Telecom", "New Customer")
    dialog = run_wizard(page, {
            'name': "Quayside Cafe", 'email': 'cafe@quayside.example',
            'street': "2 Quay Street", 'city': "Bristol",
            'country': "United Kingdom", 'line': "Counter",
            'extension': '100', 'sip_username': 'quayside-counter',
            'sip_password': 'Counter-Sip-2026',
            'realm': 'sip.example.net',
            })
    screenshot(page, 'backoffice-new-customer.png')
    dialog.locator('button:has-text("Create")').click()
    form = page.locator('#tabcontent > .tab-pane.active .form')
    page.wait_for_function("""() => jQuery('#tabcontent > .tab-pane.active'
        + ' .form input[name=party]').val() === 'Quayside Cafe'""")
    # Its line, and the line's SIP credential.
    assert "Counter" in form.inner_text()
    form.locator('a:has-text("Credentials")').click()
    page.locator('#tabcontent').get_by_text('quayside-counter').wait_for()
    screenshot(page, 'backoffice-new-customer-account.png')
    # Under the new reseller, which sees only its own.
    open_accounts(page, "Quayside Cafe")
    text = page.inner_text('#tabcontent')
    for name in ["Acme Offices", "Rosa Martin", "Delta Voice"]:
        assert name not in text
    reseller.close()


def rpc(page, method, *params):
    "A call of the signed-in user's session, as sao makes it"
    # sao shows a refused call in a dialog and never settles it: bounded,
    # and the dialog's text is the failure.
    try:
        return _rpc(page, method, params)
    except Exception:
        raise AssertionError(page.evaluate(
                "() => jQuery('.modal:visible').text()"))


def _rpc(page, method, params):
    return page.evaluate("""([method, params]) => Promise.race([
        Sao.rpc({'method': method, 'params': params.concat([{}])},
            Sao.Session.current_session),
        new Promise((resolve, reject) => setTimeout(
            () => reject(new Error(method + ': no answer')), 30000))])""",
        [method, list(params)])


def test_billing_run_skips_an_account_without_address(demo_server, page):
    """A run of the owner's month-to-date: Acme Warehouse's party has lost
    its address, so the run bills Acme Offices and names Acme Warehouse in
    its Skipped Accounts, with the reason, instead of failing whole"""
    login(page, demo_server, 'admin', 'owner-demo-2026')
    # sao refuses calls until its menu is loaded.
    page.wait_for_function("""Sao.main_menu_screen
        && Sao.main_menu_screen.group
        && Sao.main_menu_screen.group.length > 0""")
    # Something to bill this month for each: a one-off installation
    # (the product of Acme's seats); then the warehouse's party loses
    # its address.
    charge, = rpc(page, 'model.telecom.account.charge.search_read',
        [['account.party.name', '=', "Acme Offices"]], 0, 1, None,
        ['product', 'currency'])
    accounts = rpc(page, 'model.telecom.account.search_read',
        [['party.name', 'in', ["Acme Offices", "Acme Warehouse"]]],
        0, None, None, ['party', 'party.name'])
    today = dt.date.today()
    rpc(page, 'model.telecom.account.charge.create', [{
                'account': account['id'], 'product': charge['product'],
                'description': "Installation", 'quantity': 1,
                'amount': {'__class__': 'Decimal', 'decimal': '40'},
                'currency': charge['currency'], 'recurrence': 'once',
                'start_date': {'__class__': 'date', 'year': today.year,
                    'month': today.month, 'day': today.day}}
            for account in accounts])
    warehouse, = [a for a in accounts
        if a['party.']['name'] == "Acme Warehouse"]
    addresses = rpc(page, 'model.party.address.search',
        [['party', '=', warehouse['party']]])
    rpc(page, 'model.party.address.delete', addresses)

    open_menu(page, "Telecom", "Billing", "Invoice a Period")
    dialog = page.locator('.wizard-dialog:visible').last
    dialog.locator('input[name=start_date]').wait_for()
    pattern = page.evaluate("() => Sao.common.date_format()")
    fill_form(dialog, {
            'start_date': today.replace(day=1).strftime(pattern),
            'end_date': today.strftime(pattern),
            })
    dialog.locator('button:has-text("Invoice")').click()
    page.wait_for_timeout(5000)
    page.screenshot(path='/tmp/office_billing_click.png')
    form = page.locator('#tabcontent > .tab-pane.active .form')
    skipped = form.locator('textarea[name=skipped]')
    skipped.wait_for()
    page.wait_for_function("""() => jQuery('#tabcontent > .tab-pane.active'
        + ' .form textarea[name=skipped]').val()""")
    assert "Acme Warehouse" in skipped.input_value()
    assert "address" in skipped.input_value()
    assert "Acme Offices" in form.inner_text()
    screenshot(page, 'backoffice-billing-run-skipped.png')
