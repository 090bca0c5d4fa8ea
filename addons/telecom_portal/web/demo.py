"""Portal log-ins and brands for the demo database of ``make demo``
(``telecom-portal … --demo``): run again, it reuses what exists."""
from trytond.modules.telecom_base.demo import (  # noqa: F401 (server.py)
    MODULES, is_activated)
from trytond.pool import Pool
from trytond.transaction import Transaction

PASSWORD = 'portal-demo-2026'
# e-mail → (account name or company name, kind)
LOGINS = {
    'acme@demo.example': ("Acme Offices", 'customer'),
    'globex@demo.example': ("Globex Wholesale", 'customer'),
    'rosa@demo.example': ("Rosa Martin", 'customer'),
    'bluebell@demo.example': ("Bluebell Telecom", 'reseller'),
    }
# company name → brand values; Chromium resolves *.localhost to loopback,
# so both brands are reachable on one machine.
BRANDS = {
    'Bluebell Telecom': {
        'name': "Bluebell Voice", 'host_names': 'bluebell.localhost',
        'primary_colour': '#3f51b5', 'secondary_colour': '#e8eaf6',
        'support_email': 'help@bluebell.example',
        'support_phone': '+44 20 7946 0000'},
    }


def activate(config, database):
    """Activate the demo's MODULES — the whole suite, as telecom
    demo-setup does — in the database"""
    from trytond.modules.telecom_base.commands import activate_suite
    activate_suite(config, database)


def load(database):
    with Transaction().start(database, 0) as transaction:
        summary = _load()
        transaction.commit()
    return summary


def _load():
    pool = Pool()
    WebUser = pool.get('web.user')
    Account = pool.get('telecom.account')
    Company = pool.get('company.company')
    Brand = pool.get('telecom.brand')
    Plan = pool.get('telecom.rate.plan')
    ConfigItem = pool.get('ir.module.config_wizard.item')
    # As telecom demo-setup does: the modules activated for the portal
    # (accounting) leave set-up wizards that would greet admin in the back
    # office, in front of the menu.
    ConfigItem.write(ConfigItem.search([('state', '!=', 'done')]),
        {'state': 'done'})
    created = []
    for email, (name, kind) in LOGINS.items():
        if WebUser.search([('email', '=', email)]):
            continue
        values = {'email': email, 'password': PASSWORD, 'email_valid': True}
        if kind == 'customer':
            accounts = Account.search([('party.name', '=', name)], limit=1)
            if not accounts:
                continue
            values['telecom_account'] = accounts[0].id
        else:
            companies = Company.search([('party.name', '=', name)], limit=1)
            if not companies:
                continue
            values['reseller'] = companies[0].id
        WebUser.create([values])
        created.append(email)
    for company_name, values in BRANDS.items():
        companies = Company.search([('party.name', '=', company_name)])
        if not companies or Brand.search([('name', '=', values['name'])]):
            continue
        company, = companies
        Brand.create([{**values, 'company': company.id, 'default': True}])
        # Its plans are offered on sign-up (F35).
        plans = Plan.search([('company', '=', company.id)])
        if plans:
            Plan.write(plans, {'signup': True})
    return (f"portal demo: {len(created)} log-ins created "
        f"(password {PASSWORD}): {', '.join(LOGINS)}")
