"""The back office of `make demo`, in a real browser: log in to sao as the
reseller and see its accounts — and only its subtree's."""
from .conftest import screenshot


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
