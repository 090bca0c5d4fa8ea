"""Demo data: an owner, a reseller and its sub-reseller, customers of each
flavour with services, and a back-office user per tenant.

Loaded by ``telecom demo-setup`` (``make demo``); idempotent: a database
that already has the owner company is left as it is.
"""
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from trytond.pool import Pool
from trytond.transaction import Transaction

OWNER = "Northwind Voice"
# The demo switch's API key: telecom-callcontrol accepts it as
# "Authorization: Bearer demo-switch-key".
SWITCH_KEY = 'demo-switch-key'
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
        data = _load(pool)
        for model, load_module in [
                ('telecom.rate.plan', _load_rating),
                ('telecom.carrier', _load_routing),
                ('telecom.switch', _load_switch)]:
            try:
                pool.get(model)
            except KeyError:
                continue
            load_module(pool, data)
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
    toms = account("Tom's Taxis", corner, flavour='pbx', country=fr.id,
        services=[
            ('telecom.line', [{'name': "Dispatch", 'extension': '1'}]),
            ('telecom.number', [{'number': '01 99 00 12 34'}]),
            ])
    return SimpleNamespace(
        eur=eur, usd=usd, owner=owner, bluebell=bluebell, corner=corner,
        bluebell_account=bluebell_account, corner_account=corner_account,
        by_tenant={
            owner.id: Account.search([('company', '=', owner.id)]),
            bluebell.id: Account.search([('company', '=', bluebell.id)]),
            corner.id: [toms],
            })


def _load_rating(pool, d):
    "Plans of every tenant, destination groups, a time band and a bundle"
    Group = pool.get('telecom.destination.group')
    Band = pool.get('telecom.time_band')
    Plan = pool.get('telecom.rate.plan')
    Account = pool.get('telecom.account')
    groups = {code: group for code, group in zip(
            ['uk-fixed', 'uk-mobile', 'france', 'usa'], Group.create([
                    {'code': 'uk-fixed', 'name': "UK fixed", 'prefixes': [
                            ('create', [{'prefix': p}
                                    for p in ['441', '442', '443']])]},
                    {'code': 'uk-mobile', 'name': "UK mobile", 'prefixes': [
                            ('create', [{'prefix': '447'}])]},
                    {'code': 'france', 'name': "France", 'prefixes': [
                            ('create', [{'prefix': '33'}])]},
                    {'code': 'usa', 'name': "United States", 'prefixes': [
                            ('create', [{'prefix': '1'}])]},
                    ]))}
    peak, = Band.create([{
                'name': "Peak", 'company': d.owner.id,
                'timezone': 'Europe/London',
                'windows': [('create', [{
                                'days': 'mon-fri', 'start': dt.time(8),
                                'end': dt.time(18)}])]}])

    def rates(table):
        return [('create', [
                    {'prefix': prefix, 'destination': name,
                        'price': Decimal(price), 'increment_first': 60,
                        'increment_next': 1, **extra}
                    for prefix, name, price, extra in table])]
    standard, wholesale = Plan.create([{
                'name': "Northwind Standard", 'company': d.owner.id,
                'currency': d.eur.id, 'signup': True,
                'rates': rates([
                        ('44', "United Kingdom", '0.0200', {}),
                        ('44', "United Kingdom peak", '0.0300',
                            {'time_band': peak.id}),
                        ('447', "UK mobile", '0.0800', {}),
                        ('33', "France", '0.0300', {}),
                        ('1', "United States", '0.0100', {}),
                        ])}, {
                'name': "Northwind Wholesale", 'company': d.owner.id,
                'currency': d.eur.id,
                'rates': rates([
                        ('44', "United Kingdom", '0.0100', {}),
                        ('447', "UK mobile", '0.0500', {}),
                        ('33', "France", '0.0150', {}),
                        ('1', "United States", '0.0060', {}),
                        ])}])
    bluebell_home, = Plan.create([{
                'name': "Bluebell Home", 'company': d.bluebell.id,
                'currency': d.eur.id, 'parent': wholesale.id,
                'signup': True,
                'markups': [('create', [
                            {'percent': Decimal(25)},
                            {'group': groups['uk-mobile'].id,
                                'percent': Decimal(40)},
                            ])],
                'bundles': [('create', [{
                                'name': "100 UK minutes", 'minutes': 100,
                                'groups': [('add', [
                                            groups['uk-fixed'].id])]}])],
                }])
    corner_retail, = Plan.create([{
                'name': "Corner Retail", 'company': d.corner.id,
                'currency': d.eur.id, 'parent': bluebell_home.id,
                'markups': [('create', [{'percent': Decimal(20)}])]}])
    plan_of = {d.owner.id: standard, d.bluebell.id: bluebell_home,
        d.corner.id: corner_retail}
    for tenant, accounts in d.by_tenant.items():
        Account.write(accounts, {
                'rate_plans': [('add', [plan_of[tenant].id])]})
    Account.write([d.bluebell_account], {
            'rate_plans': [('remove', [standard.id]),
                ('add', [wholesale.id])]})
    d.standard, d.wholesale = standard, wholesale


def _load_routing(pool, d):
    "Two carriers of the owner and least-cost routing of its plans"
    Carrier = pool.get('telecom.carrier')
    Policy = pool.get('telecom.routing.policy')

    def deck(table):
        return [('create', [
                    {'prefix': prefix, 'price': Decimal(price)}
                    for prefix, price in table])]
    Carrier.create([{
                'name': "Atlas Voice", 'code': 'atlas',
                'company': d.owner.id, 'currency': d.eur.id,
                'gateways': [('create', [
                            {'address': 'atlas.example.net:5060'}])],
                'rates': deck([('44', '0.0040'), ('447', '0.0200'),
                        ('33', '0.0080'), ('1', '0.0030')]),
                }, {
                'name': "Borealis Telecom", 'code': 'borealis',
                'company': d.owner.id, 'currency': d.usd.id,
                'tech_prefix': '4711',
                'gateways': [('create', [
                            {'address': 'borealis.example.com',
                                'transport': 'tcp'}])],
                'rates': deck([('44', '0.0050'), ('447', '0.0150'),
                        ('33', '0.0070'), ('1', '0.0020')]),
                }])
    Policy.create([
            {'plan': d.standard.id, 'strategy': 'least-cost',
                'max_routes': 2, 'loss_guard': True},
            {'plan': d.wholesale.id, 'strategy': 'least-cost'},
            ])


def _load_switch(pool, d):
    "A switch with a known key, and money on the prepaid accounts"
    from trytond.modules.telecom_switch.switch import hash_key
    Switch = pool.get('telecom.switch')
    Account = pool.get('telecom.account')
    BalanceLine = pool.get('telecom.balance.line')
    Switch.create([{
                'name': "Demo Kamailio", 'code': 'demo-kamailio',
                'company': d.owner.id, 'kind': 'kamailio',
                'key_hash': hash_key(SWITCH_KEY)}])
    BalanceLine.add_movements([{
                'account': account.id, 'amount': Decimal(20),
                'kind': 'topup', 'description': "Welcome credit"}
            for account in Account.search([
                    ('billing_mode', '=', 'prepaid')])])
