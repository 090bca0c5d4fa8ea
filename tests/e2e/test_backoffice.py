"""The back office of `make demo`, in a real browser: log in to sao as the
reseller and see its accounts — and only its subtree's; the operator's
tasks of README.md's walk-through (a staff top-up, onboarding a reseller
and its first customer). Saves docs/screenshots/backoffice-*.png."""
import os
from decimal import Decimal

from playwright.sync_api import expect

from .conftest import ROOT

SCREENSHOTS = os.path.join(ROOT, 'docs', 'screenshots')


def screenshot(page, name):
    "A screenshot of README.md's tour"
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENSHOTS, name))


def login(page, url, login, password, database='demo'):
    page.goto(f'{url}#{database}')
    page.fill('#login', login)
    page.click('.login-dialog button[type=submit]')
    # sao asks the password in a second dialog.
    page.wait_for_selector('.ask-dialog input', state='visible')
    page.fill('.ask-dialog input', password)
    page.click('.ask-dialog .btn-primary')
    # The menu of the signed-in user.
    page.wait_for_selector('#menu', state='visible')


def open_accounts(page, expect):
    "Open Telecom › Accounts from the menu, as a user would"
    page.click('#menu >> text=Telecom')
    page.click('#menu >> text=Accounts')
    page.locator('#tabcontent').get_by_text(expect).first.wait_for()


def test_reseller_sees_its_accounts(demo_server, page):
    login(page, demo_server, 'bluebell', 'bluebell-demo-2026')
    open_accounts(page, "Rosa Martin")
    text = page.inner_text('#tabcontent')
    # Bluebell's customers and its sub-reseller's customer …
    for name in ["Rosa Martin", "Harbour Dental", "Tom's Taxis",
            "Corner Comms"]:
        assert name in text
    # … and nothing of the owner's or of the owner itself.
    for name in ["Acme Offices", "Globex Wholesale", "Northwind Voice"]:
        assert name not in text
    screenshot(page, 'backoffice-reseller-accounts.png')


def test_owner_sees_all_accounts(demo_server, page):
    login(page, demo_server, 'admin', 'owner-demo-2026')
    open_accounts(page, "Acme Offices")
    text = page.inner_text('#tabcontent')
    for name in ["Acme Offices", "Globex Wholesale", "Rosa Martin",
            "Tom's Taxis", "Bluebell Telecom"]:
        assert name in text
    screenshot(page, 'backoffice-owner-accounts.png')


def open_menu(page, *path, expect):
    "Open the menu entry at ``path`` (Telecom › …) and wait for ``expect``"
    for name in path:
        page.click(f'#menu >> text="{name}"')
    page.locator('#tabcontent').get_by_text(expect).first.wait_for()


def test_replacing_a_deck_asks_first(demo_server, page, tmp_path):
    """Import Rates adds unless told to replace, and a replace happens only
    after a confirmation that says how many rates it removes: Northwind
    Standard's 5 rates of the demo (telecom_base/demo.py)"""
    deck = tmp_path / 'standard.csv'
    deck.write_text("prefix,destination,rate\n44,United Kingdom,0.025\n"
        "33,France,0.035\n")
    login(page, demo_server, 'admin', 'owner-demo-2026')
    open_menu(page, 'Telecom', 'Rating', 'Rate Plans',
        expect="Northwind Standard")
    page.locator('#tabcontent').get_by_text(
        "Northwind Standard").first.dblclick()
    # The form with its record loaded: a button clicked before does nothing.
    page.locator('#tabcontent').get_by_text("UK mobile").first.wait_for()
    page.wait_for_function("jQuery.active == 0")
    page.locator('#tabcontent button', has_text="Import Rates").click()
    dialog = page.locator('.wizard-dialog')

    def field(name):
        "The value the wizard shows in its field ``name``, once set"
        return expect(dialog.locator(f'input[name={name}]').first)

    def start(mode):
        dialog.locator('input[type=file]').set_input_files(str(deck))
        mode_field = dialog.locator('select')
        # The wizard's default is the safe one.
        assert mode_field.locator('option:checked').inner_text() == (
            "Add to the rates")
        mode_field.select_option(label=mode)
        dialog.locator('button', has_text="Import").click()

    start("Replace all rates")
    # Asked first, with what would go.
    dialog.get_by_text("Rates to Remove").wait_for()
    field('removed').to_have_value('5')
    screenshot(page, 'backoffice-replace-deck-confirm.png')
    dialog.locator('button', has_text="Cancel").click()
    dialog.wait_for(state='hidden')

    # Cancelled: nothing went, the same 5 are there to replace. The form
    # reloads its record once the wizard's dialog is removed (in the same
    # step): a click before the reload has ended is dropped.
    page.wait_for_function(
        "jQuery('.wizard-dialog').length == 0 && jQuery.active == 0")
    page.locator('#tabcontent button', has_text="Import Rates").click()
    start("Replace all rates")
    dialog.get_by_text("Rates to Remove").wait_for()
    field('removed').to_have_value('5')
    dialog.locator('button', has_text="Replace").click()
    dialog.get_by_text("Imported Rates").wait_for()
    field('imported').to_have_value('2')
    field('removed').to_have_value('5')
    dialog.locator('button', has_text="Close").click()
    dialog.wait_for(state='hidden')


def test_top_bar_and_double_clicked_wizard(demo_server, page):
    """The top bar names the product, and a wizard's menu entry
    double-clicked opens one wizard, not one per click"""
    login(page, demo_server, 'admin', 'owner-demo-2026')
    assert page.inner_text('#title') == "Telecom Billing"
    assert "Tryton" not in page.title()
    page.click('#menu >> text="Telecom"')
    page.click('#menu >> text="Billing"')
    page.dblclick('#menu >> text="Invoice a Period"')
    dialog = page.locator('.wizard-dialog')
    dialog.first.wait_for()
    # Each extra wizard would have asked the server for its own session.
    page.wait_for_function("jQuery.active == 0")
    assert dialog.count() == 1
    # While the run works, its buttons cannot be pressed again.
    dialog.locator('button', has_text="Invoice").wait_for()
    disabled = page.evaluate("""() => {
        const footer = jQuery('.wizard-dialog .modal-footer');
        footer.find('button:contains("Invoice")').click();
        return footer.find('button').map((i, b) => b.disabled).get();
    }""")
    assert disabled == [True, True]
    page.wait_for_function("jQuery.active == 0")

def open_account(page, name):
    "Open the form of account ``name`` from the Accounts list"
    page.locator('#tabcontent td', has_text=name).first.dblclick()
    page.wait_for_function("""(name) => {
        const screen = Sao.Tab.tabs.get_current().screen;
        return screen.current_view.view_type === 'form'
            && screen.current_record
            && jQuery(screen.current_view.el)
                .find('input[name=party]').val() === name;
    }""", arg=name)


def balance_shown(page):
    "The balance on the account form in front, as sao shows it"
    return Decimal(page.evaluate("""() => jQuery(
        Sao.Tab.tabs.get_current().screen.current_view.el)
        .find('input[name=balance]:visible').val()""").replace(',', ''))


def test_staff_top_up(demo_server, page):
    """The owner's staff top up a prepaid customer in USD at the desk: the
    balance on the form moves at once, the movement is in the account's
    ledger with its reason, and its accounting entry is posted"""
    login(page, demo_server, 'admin', 'owner-demo-2026')
    open_accounts(page, "Globex Wholesale")
    row = page.locator('#tabcontent tr', has_text="Globex Wholesale").first
    listed = row.inner_text()
    open_account(page, "Globex Wholesale")
    before = balance_shown(page)
    # The list shows the balance too.
    assert f"{before:.2f}" in listed, listed

    page.click('#tabcontent button:has-text("Top Up or Adjust")')
    dialog = page.locator('.wizard-dialog')
    dialog.locator('input[name=reason]').wait_for()
    fill_form(dialog, {'amount': '50.00', 'reason': "Cash at the desk"})
    screenshot(page, 'backoffice-top-up.png')
    dialog.locator('button:has-text("Post")').click()
    dialog.wait_for(state='hidden')

    # 50.00 USD on the account kept in USD.
    page.wait_for_function("""(expected) => {
        const input = jQuery(Sao.Tab.tabs.get_current().screen
            .current_view.el).find('input[name=balance]:visible');
        return Number(input.val().replace(/,/g, '')) === expected;
    }""", arg=float(before + 50))
    page.click('#tabcontent > .tab-pane.active .form a:has-text("Balance")')
    movement = page.locator('#tabcontent tr', has_text="Cash at the desk")
    movement.first.wait_for()
    assert "50.00" in movement.first.inner_text()
    screenshot(page, 'backoffice-top-up-ledger.png')

    # Its entry: 50 USD at 1.08 USD a EUR = 46.30 EUR (46.296… rounded
    # half-even to the cent), owed to the customer on Prepaid customer
    # balances and received on the cash account.
    lines = page.evaluate("""() => Sao.rpc({
        'method': 'model.telecom.balance.line.search_read',
        'params': [[['description', 'like', 'Cash at the desk%']],
            0, null, null, ['move', 'amount'], {}],
    }, Sao.Session.current_session).then((movements) => Sao.rpc({
        'method': 'model.account.move.line.search_read',
        'params': [[['move', '=', movements[0].move]], 0, null, null,
            ['account.rec_name', 'debit', 'credit',
                'amount_second_currency', 'move.state'], {}],
    }, Sao.Session.current_session)).then((lines) => lines.map((line) => [
        line['account.'].rec_name, line.debit.toString(),
        line.credit.toString(), line.amount_second_currency.toString(),
        line['move.'].state]))""")
    entry = sorted((name, Decimal(debit), Decimal(credit), Decimal(second),
            state) for name, debit, credit, second, state in lines)
    assert [e[1:] for e in entry] == [
        (Decimal('46.30'), Decimal(0), Decimal('50.00'), 'posted'),
        (Decimal(0), Decimal('46.30'), Decimal('-50.00'), 'posted'),
        ], entry
    assert "Prepaid customer balances" in entry[1][0]


def fill_form(form, values):
    """Type ``values`` into the fields of ``form`` by field name; a
    relation is typed and left with Tab, as a user picks the one match"""
    for name, value in values.items():
        field = form.locator(f'[name="{name}"]').first
        if isinstance(value, bool):
            field.set_checked(value)
            continue
        number = form.locator(f'input[type=number][name="{name}"]')
        if number.count():
            # sao shows a number as text and edits it in a number input
            # it swaps in on focus.
            field.click()
            field = number.first
            field.wait_for()
        field.fill(value)
        field.press('Tab')
        search = form.page.locator('.modal:visible:not(.wizard-dialog)')
        if form.locator(f'.form-many2one [name="{name}"]').count():
            # A relation typed by name: sao offers its matches to pick.
            search.locator('tbody tr').first.click()
            search.locator('button:has-text("OK")').click()
            search.wait_for(state='hidden')
