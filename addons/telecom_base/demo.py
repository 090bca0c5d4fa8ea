"""Demo data: an owner, a reseller and its sub-reseller, customers of each
flavour with services, and a back-office user per tenant; the owner's and
the reseller's books and the products of their shops.

Loaded by ``telecom demo-setup`` (``make demo``) into the database where
it activated ``MODULES``; idempotent: the tenants are loaded into a
database without the owner company, the books and shops into one without
telecom products (so a demo made before the shop gets it).
"""
import datetime as dt
from decimal import Decimal
from importlib.metadata import distribution
from types import SimpleNamespace

from trytond.pool import Pool
from trytond.transaction import Transaction

from .locking import run_committed

# The whole suite: every module this distribution registers with trytond
# (pyproject.toml's entry points), so a module added to the suite is in
# the demo, and telecom-portal --demo activates the same.
MODULES = sorted(
    ep.name for ep in distribution('telecom-billing-suite').entry_points
    if ep.group == 'trytond.modules')
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
    # Run again when a part asks for a table lock (the books' singletons).
    return run_committed(database, _load_parts)


def _load_parts(pool):
    "The parts of the demo that are not in the database yet"
    Company = pool.get('company.company')
    loaded = []
    shop = _has(pool, 'telecom.shop') and not _shop_loaded(pool)
    if shop:
        # The books' singletons lock their tables: asked for before
        # anything is written, run_committed starts again holding them
        # with nothing to do again.
        for name in ['account.configuration',
                'telecom.billing.configuration',
                'telecom.payment.configuration']:
            pool.get(name).lock()
    if not Company.search([('party.name', '=', OWNER)]):
        data = _load(pool)
        for model, load_module in [
                ('telecom.rate.plan', _load_rating),
                ('telecom.carrier', _load_routing),
                ('telecom.switch', _load_switch)]:
            if _has(pool, model):
                load_module(pool, data)
        loaded.append("tenants")
    # Apart: a demo made before the shop gets it when run again.
    if shop:
        _load_shop(pool)
        loaded.append("books and shop")
    if _has(pool, 'telecom.shop'):
        # Needs the books: e-invoicing data and posted documents.
        from trytond.modules.telecom_billing import demo as billing_demo
        if billing_demo.load(pool):
            loaded.append("e-invoicing and posted documents")
    database = Transaction().database.name
    if not loaded:
        return f"Demo data already in {database}: reused."
    return f"Demo data loaded into {database}: {', '.join(loaded)}."


def _has(pool, model):
    try:
        pool.get(model)
    except KeyError:
        return False
    return True


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

    def account(name, tenant, address, services=(), **values):
        values.setdefault('country', gb.id)
        street, city = address
        with transaction.set_context(company=tenant.id):
            party, = Party.create([{
                        'name': name,
                        # Where its invoices go (a shop order needs one).
                        'addresses': [('create', [{'street': street,
                                        'city': city,
                                        'country': values['country']}])],
                        'contact_mechanisms': [('create', [{
                                        'type': 'email',
                                        'value': name.lower().replace(
                                            ' ', '.').replace("'", '')
                                        + '@example.com'}])],
                        }])
            values.setdefault('currency', tenant.currency.id)
            record, = Account.create([{
                        'party': party.id, 'company': tenant.id,
                        **values}])
            for model, rows in services:
                pool.get(model).create([
                        {'account': record.id, **row} for row in rows])
        return record

    # The resellers, as customers of their parent.
    bluebell_account = account(
        "Bluebell Telecom", owner, ("12 Bluebell Road", "Bristol"),
        flavour='wholesale', billing_mode='postpaid',
        credit_limit=Decimal(5000))
    corner_account = account(
        "Corner Comms", bluebell, ("3 rue du Coin", "Paris"),
        flavour='wholesale', billing_mode='prepaid', country=fr.id)
    Account.write([bluebell_account], {'reseller': bluebell.id})
    Account.write([corner_account], {'reseller': corner.id})

    acme = account("Acme Offices", owner, ("1 Acme Way", "London"),
        flavour='pbx', services=[
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
    warehouse = account("Acme Warehouse", owner,
        ("Unit 4, Dock Road", "Tilbury"), flavour='pbx', services=[
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
    account("Globex Wholesale", owner,
        ("100 Globex Plaza", "Springfield"), flavour='wholesale',
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
    account("Rosa Martin", bluebell, ("7 Rose Lane", "Manchester"),
        flavour='residential', billing_mode='prepaid', services=[
            ('telecom.line', [
                    {'name': "Home"}, {'name': "Kitchen"}]),
            ('telecom.number', [{'number': '0161 496 0123'}]),
            ])
    account("Harbour Dental", bluebell, ("1 Quay Street", "Bristol"),
        flavour='pbx', services=[
            ('telecom.line', [
                    {'name': "Front desk", 'extension': '10'},
                    {'name': "Surgery", 'extension': '11'}]),
            ('telecom.number', [{'number': '0117 496 0456'}]),
            ('telecom.sip_address', [
                    {'address': 'desk@harbour-dental.example.com'}]),
            ])
    toms = account("Tom's Taxis", corner,
        ("2 place de la Gare", "Lyon"), flavour='pbx', country=fr.id,
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


# What the owner and Bluebell sell in the portal's shop (F28), in their
# currency (EUR), with their 20 % VAT: name → (telecom kind, billed,
# price, template values). A minute pack goes to the bundle of the
# customer's plan on exactly its destination groups (telecom_sale's
# README): Bluebell Home's "100 UK minutes" (UK fixed), and on Northwind
# Standard a bundle of 0 minutes a month added for the packs (UK mobile).
SHOP = {
    OWNER: {
        "SIP desk phone": ('phone', 'once', '49.00', {'type': 'goods'}),
        "UK mobile 100 minutes": ('minute_pack', 'once', '6.00', {
                'pack_minutes': 100, 'pack_groups': ['uk-mobile']}),
        "Extra concurrent calls ×2": ('concurrent_calls', 'monthly', '4.00',
            {'extra_calls': 2}),
        },
    "Bluebell Telecom": {
        "Cordless SIP phone": ('phone', 'once', '39.00', {'type': 'goods'}),
        "UK landline 300 minutes": ('minute_pack', 'once', '5.00', {
                'pack_minutes': 300, 'pack_groups': ['uk-fixed']}),
        "Call recording": ('service', 'monthly', '3.50', {}),
        },
    }
PACK_BUNDLES = {"Northwind Standard": ("UK mobile packs", ['uk-mobile'])}


def _shop_loaded(pool):
    Template = pool.get('product.template')
    return bool(Template.search([('telecom_kind', '!=', None)], limit=1))


def _load_shop(pool):
    """The books of the owner and Bluebell, the bundles their packs need
    and the products of their shops"""
    Company = pool.get('company.company')
    Bundle = pool.get('telecom.bundle')
    Plan = pool.get('telecom.rate.plan')
    Group = pool.get('telecom.destination.group')
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')])
    groups = {g.code: g.id for g in Group.search([])}
    for plan_name, (name, codes) in PACK_BUNDLES.items():
        plan, = Plan.search([('name', '=', plan_name)])
        Bundle.create([{'plan': plan.id, 'name': name, 'minutes': 0,
                    'groups': [('add', [groups[c] for c in codes])]}])
    for tenant_name, products in SHOP.items():
        tenant, = Company.search([('party.name', '=', tenant_name)])
        books = set_up_books(pool, tenant)
        with Transaction().set_context(company=tenant.id):
            # Phones are goods, the rest services: each its revenue.
            categories = dict(zip(['goods', 'service'], Category.create([{
                                'name': f"{name} of {tenant_name}",
                                'accounting': True,
                                'account_revenue': revenue.id,
                                'customer_taxes': [('add', [books.vat.id])],
                                } for name, revenue in [
                                ("Hardware", books.goods),
                                ("Services", books.services)]])))
            rows = []
            for name, (kind, billed, price, values) in products.items():
                values = dict(values)
                type_ = values.pop('type', 'service')
                codes = values.pop('pack_groups', [])
                rows.append({
                        'name': name, 'tenant': tenant.id, 'type': type_,
                        'default_uom': unit.id, 'sale_uom': unit.id,
                        'salable': True, 'list_price': Decimal(price),
                        'account_category': categories[type_].id,
                        'telecom_kind': kind, 'telecom_recurrence': billed,
                        'pack_groups': [
                            ('add', [groups[c] for c in codes])],
                        'products': [('create', [{}])], **values})
            Template.create(rows)


def set_up_books(pool, company):
    """``company``'s books, as its accountant would set them up: Tryton's
    universal chart, a 20 % VAT, this year's and next year's fiscal
    years with monthly periods and invoice numbers, the usage product of
    its invoices (no
    tax: the demo's call prices are net) and its prepaid ledger's
    accounts (telecom_payment, when activated); return its revenue
    accounts of goods and services and the VAT. The demo's tenants and the
    *Onboard Reseller* wizard's (telecom_portal) are set up by it."""
    ModelData = pool.get('ir.model.data')
    AccountTemplate = pool.get('account.account.template')
    CreateChart = pool.get('account.create_chart', type='wizard')
    Account = pool.get('account.account')
    AccountConfiguration = pool.get('account.configuration')
    Tax = pool.get('account.tax')
    Sequence = pool.get('ir.sequence.strict')
    FiscalYear = pool.get('account.fiscalyear')
    Journal = pool.get('account.journal')
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    BillingConfiguration = pool.get('telecom.billing.configuration')
    with Transaction().set_context(company=company.id):
        session_id, _, _ = CreateChart.create()
        chart = CreateChart(session_id)
        chart.account.account_template = AccountTemplate(
            ModelData.get_id('account', 'account_template_root_en'))
        chart.account.company = company
        chart.transition_create_account()
        CreateChart.delete(session_id)

        def account(code):
            return Account.search([
                    ('company', '=', company.id), ('code', '=', code)])[0]
        configuration = AccountConfiguration(1)
        configuration.default_account_receivable = account('1.2.1')
        configuration.default_account_payable = account('2.1.1')
        configuration.save()
        goods, services = account('4.1.1'), account('4.1.2')
        vat, = Tax.create([{
                    'name': "VAT 20 %", 'description': "VAT 20 %",
                    'company': company.id, 'type': 'percentage',
                    'rate': Decimal('0.2'),
                    'invoice_account': account('6.3.4').id,
                    'credit_note_account': account('6.3.4').id}])

        today = pool.get('ir.date').today()

        def sequence(xml_id, year):
            module, name = xml_id.split('.')
            return Sequence.create([{
                        'name': str(year), 'company': company.id,
                        'sequence_type': ModelData.get_id(module, name)}])[0]
        # Next year's too: a demo made in December still invoices in
        # January.
        for year in [today.year, today.year + 1]:
            invoices = sequence(
                'account_invoice.sequence_type_account_invoice', year)
            fiscal_year, = FiscalYear.create([{
                        'name': str(year), 'company': company.id,
                        'start_date': dt.date(year, 1, 1),
                        'end_date': dt.date(year, 12, 31),
                        'move_sequence': sequence(
                            'account.sequence_type_account_move', year).id,
                        'invoice_sequences': [('create', [{
                                        'company': company.id,
                                        'in_invoice_sequence': invoices.id,
                                        'in_credit_note_sequence':
                                        invoices.id,
                                        'out_invoice_sequence': invoices.id,
                                        'out_credit_note_sequence':
                                        invoices.id,
                                        }])],
                        }])
            FiscalYear.create_period([fiscal_year])

        unit, = Uom.search([('name', '=', 'Unit')])
        calls, = Category.create([{
                    'name': f"Calls of {company.rec_name}",
                    'accounting': True, 'account_revenue': services.id}])
        usage, = Template.create([{
                    'name': "Calls", 'type': 'service',
                    'default_uom': unit.id, 'list_price': Decimal(0),
                    'account_category': calls.id,
                    'products': [('create', [{}])]}])
        BillingConfiguration.write([BillingConfiguration(1)], {
                'usage_product': usage.products[0].id})

        if not _has(pool, 'telecom.payment.configuration'):
            return SimpleNamespace(goods=goods, services=services, vat=vat)
        PrepaidConfiguration = pool.get('telecom.payment.configuration')
        # What customers paid and have not spent yet: unearned revenue.
        unearned = account('2.2.2')
        prepaid, vouchers, usage_invoiced = Account.create([{
                    'name': name, 'company': company.id,
                    'type': unearned.type.id, 'parent': unearned.parent.id,
                    'party_required': name == "Prepaid customer balances",
                    } for name in ["Prepaid customer balances",
                        "Vouchers sold", "Prepaid usage invoiced"]])
        prepaid_configuration = PrepaidConfiguration(1)
        for name, value in {
                'prepaid_account': prepaid,
                'call_revenue_account': services,
                'topup_account': account('1.1.1'),
                'voucher_account': vouchers,
                'prepaid_usage_account': usage_invoiced,
                'prepaid_journal': Journal.search([('code', '=', 'MISC')])[0],
                }.items():
            prepaid_configuration.set_multivalue(
                name, value, company=company.id)
        prepaid_configuration.save()
    return SimpleNamespace(goods=goods, services=services, vat=vat)
