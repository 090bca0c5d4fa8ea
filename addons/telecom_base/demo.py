"""Demo data: an owner, a reseller and its sub-reseller, customers of each
flavour with services, and a back-office user per tenant.

Loaded by ``telecom demo-setup`` (``make demo``); idempotent: a database
that already has the owner company is left as it is.
"""
import datetime as dt
from decimal import Decimal

from trytond.pool import Pool
from trytond.transaction import Transaction

OWNER = "Northwind Voice"
PASSWORDS = {
    'admin': 'owner-demo-2026',
    'support': 'support-demo-2026',
    'bluebell': 'bluebell-demo-2026',
    'corner': 'corner-demo-2026',
    }


def is_activated(database, modules):
    from trytond import backend
    if not backend.Database(database).connect().test():
        return False
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 0, readonly=True):
        Module = pool.get('ir.module')
        activated = {m.name for m in Module.search([
                    ('state', '=', 'activated')])}
    return set(modules) <= activated


def load(database):
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 0) as transaction:
        Company = pool.get('company.company')
        if Company.search([('party.name', '=', OWNER)]):
            return f"Demo data already in {database}: reused."
        _load(pool)
        transaction.commit()
    return f"Demo data loaded into {database}."


def _load(pool):
    Currency = pool.get('currency.currency')
    Rate = pool.get('currency.currency.rate')
    Country = pool.get('country.country')
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    User = pool.get('res.user')
    Role = pool.get('res.role')
    ModelData = pool.get('ir.model.data')
    Account = pool.get('telecom.account')
    Group = pool.get('telecom.account.group')
    Limit = pool.get('telecom.account.feature_limit')
    transaction = Transaction()

    eur, usd = Currency.create([
            {'name': "Euro", 'code': 'EUR', 'symbol': '€', 'digits': 2,
                'rounding': Decimal('0.01')},
            {'name': "US Dollar", 'code': 'USD', 'symbol': '$',
                'digits': 2, 'rounding': Decimal('0.01')},
            ])
    Rate.create([
            {'currency': eur.id, 'date': dt.date(2026, 1, 1),
                'rate': Decimal(1)},
            {'currency': usd.id, 'date': dt.date(2026, 1, 1),
                'rate': Decimal('1.08')},
            ])
    # The demo is configured: don't greet admin with the set-up wizards.
    ConfigItem = pool.get('ir.module.config_wizard.item')
    ConfigItem.write(ConfigItem.search([]), {'state': 'done'})

    gb, fr, us = Country.create([
            {'name': "United Kingdom", 'code': 'GB'},
            {'name': "France", 'code': 'FR'},
            {'name': "United States", 'code': 'US'},
            ])

    def company(name, parent=None, currency=eur, timezone='Europe/London'):
        with transaction.set_context(company=parent.id if parent else None):
            party, = Party.create([{'name': name}])
        record, = Company.create([{
                    'party': party.id, 'currency': currency.id,
                    'timezone': timezone,
                    'parent': parent.id if parent else None}])
        return record

    owner = company(OWNER)
    bluebell = company("Bluebell Telecom", owner)
    corner = company("Corner Comms", bluebell, timezone='Europe/Paris')

    def role(xml_id):
        return Role(ModelData.get_id('telecom_base', xml_id))

    admin = User(ModelData.get_id('res', 'user_admin'))
    # admin has every group already; user_role refuses roles on admin.
    User.write([admin], {
            'companies': [('add', [owner.id])], 'company': owner.id,
            'email': 'admin@northwind.example.net',
            })
    for login, name, tenant, role_id in [
            ('support', "Sam Support", owner, 'role_support'),
            ('bluebell', "Bella Bluebell", bluebell, 'role_reseller_admin'),
            ('corner', "Colin Corner", corner, 'role_reseller_admin'),
            ]:
        User.create([{
                    'login': login, 'name': name,
                    'password': PASSWORDS[login],
                    'companies': [('add', [tenant.id])],
                    'company': tenant.id,
                    'roles': [('create', [{'role': role(role_id).id}])],
                    }])

    def account(name, tenant, services=(), **values):
        with transaction.set_context(company=tenant.id):
            party, = Party.create([{
                        'name': name,
                        'contact_mechanisms': [('create', [{
                                        'type': 'email',
                                        'value': name.lower().replace(
                                            ' ', '.').replace("'", '')
                                        + '@example.com'}])],
                        }])
            values.setdefault('currency', tenant.currency.id)
            values.setdefault('country', gb.id)
            record, = Account.create([{
                        'party': party.id, 'company': tenant.id,
                        **values}])
            for model, rows in services:
                pool.get(model).create([
                        {'account': record.id, **row} for row in rows])
        return record

    # The resellers, as customers of their parent.
    bluebell_account = account(
        "Bluebell Telecom", owner, flavour='wholesale',
        billing_mode='postpaid', credit_limit=Decimal(5000))
    corner_account = account(
        "Corner Comms", bluebell, flavour='wholesale',
        billing_mode='prepaid', country=fr.id)
    Account.write([bluebell_account], {'reseller': bluebell.id})
    Account.write([corner_account], {'reseller': corner.id})

    acme = account("Acme Offices", owner, flavour='pbx', services=[
            ('telecom.line', [
                    {'name': "Reception", 'extension': '200'},
                    {'name': "Sales", 'extension': '201'},
                    {'name': "Accounts", 'extension': '202'},
                    ]),
            ('telecom.number', [
                    {'number': '020 7946 0000'},
                    {'number': '020 7946 0001'},
                    ]),
            ('telecom.sip_address', [
                    {'address': 'reception@acme.example.com'},
                    ]),
            ])
    warehouse = account("Acme Warehouse", owner, flavour='pbx', services=[
            ('telecom.line', [{'name': "Dock", 'extension': '300'}]),
            ])
    Group.create([{
                'name': "Acme Group", 'company': owner.id,
                'accounts': [('add', [acme.id, warehouse.id])],
                'shared_features': "Call pick-up between sites; "
                "hunt group 'Sales'.",
                }])
    Limit.create([{
                'account': acme.id,
                'feature': ModelData.get_id('telecom_base', 'feature_lines'),
                'maximum': 20, 'included': 5,
                }])
    account("Globex Wholesale", owner, flavour='wholesale',
        billing_mode='prepaid', country=us.id, currency=usd.id,
        national_prefix='1', international_prefix='011', services=[
            ('telecom.credential', [
                    {'kind': 'ip', 'network': '198.51.100.0/28'},
                    {'kind': 'prefix', 'tech_prefix': '7301'},
                    {'kind': 'sip', 'username': 'globex-trunk',
                        'realm': 'sip.example.net',
                        'password': 'globex-trunk-secret'},
                    ]),
            ])
    account("Rosa Martin", bluebell, flavour='residential',
        billing_mode='prepaid', services=[
            ('telecom.line', [
                    {'name': "Home"}, {'name': "Kitchen"}]),
            ('telecom.number', [{'number': '0161 496 0123'}]),
            ])
    account("Harbour Dental", bluebell, flavour='pbx', services=[
            ('telecom.line', [
                    {'name': "Front desk", 'extension': '10'},
                    {'name': "Surgery", 'extension': '11'}]),
            ('telecom.number', [{'number': '0117 496 0456'}]),
            ('telecom.sip_address', [
                    {'address': 'desk@harbour-dental.example.com'}]),
            ])
    account("Tom's Taxis", corner, flavour='pbx', country=fr.id,
        services=[
            ('telecom.line', [{'name': "Dispatch", 'extension': '1'}]),
            ('telecom.number', [{'number': '01 99 00 12 34'}]),
            ])
