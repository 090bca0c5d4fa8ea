"""Accounting fixtures of the suite's tests: a company's books for the
module tests (``create_books``, ``create_fiscalyear``: the chart, fiscal
year and sequences that telecom_billing, telecom_payment, telecom_sale and
telecom_affiliate all need), and for the scenarios the owner company with
its chart (``create_owner``) and rated calls (``rate_calls``)."""
from proteus import Model
from trytond.modules.account import tests as account_tests
from trytond.modules.account.tests.tools import create_chart
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.pool import Pool
from trytond.transaction import Transaction


def create_fiscalyear(company, today=None):
    """Open ``company``'s fiscal year holding ``today`` (default: today)
    with monthly periods, and its invoice sequences where account_invoice
    is activated; return the fiscal year."""
    pool = Pool()
    FiscalYear = pool.get('account.fiscalyear')
    fiscalyear = account_tests.get_fiscalyear(company, today=today)
    try:
        pool.get('account.invoice')
    except KeyError:
        pass
    else:
        from trytond.modules.account_invoice.tests import (
            set_invoice_sequences)
        fiscalyear = set_invoice_sequences(fiscalyear)
    fiscalyear.save()
    FiscalYear.create_period([fiscalyear])
    return fiscalyear


def create_books(company, today=None, fiscal_year=True, tax=False):
    """Give ``company`` Tryton's test chart of accounts (with its 20 % VAT
    when ``tax``) and, unless ``fiscal_year`` is false, its fiscal year
    (``create_fiscalyear``); return its revenue account and the fiscal
    year (or None). Leaves the test user working for ``company``, as
    set_company does."""
    pool = Pool()
    Account = pool.get('account.account')
    with set_company(company):
        account_tests.create_chart(company, tax=tax)
        fiscalyear = (create_fiscalyear(company, today=today)
            if fiscal_year else None)
        revenue, = Account.search([
                ('type.revenue', '=', True), ('closed', '!=', True),
                ('company', '=', company.id)], limit=1)
    return revenue, fiscalyear


def create_taxed_books(company, today=None, fiscal_year=True):
    """Give ``company`` Tryton's test chart with its 20 % VAT, a fixed
    0.50 "Line fee" tax and, unless ``fiscal_year`` is false, the fiscal
    year holding ``today``; three products and the billing configuration:
    *Calls* (VAT, the usage product), *Extra lines* (VAT and the fee, the
    feature product) and *Service* (VAT). Return a namespace of the taxes
    (vat, fee), the products (calls, extra, service) and the fiscal year.
    Leaves the test user working for ``company``."""
    from decimal import Decimal
    from types import SimpleNamespace
    pool = Pool()
    Account = pool.get('account.account')
    Tax = pool.get('account.tax')
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Configuration = pool.get('telecom.billing.configuration')
    unit, = Uom.search([('name', '=', 'Unit')])
    with set_company(company):
        account_tests.create_chart(company, tax=True)
        books = SimpleNamespace(fiscalyear=(
                create_fiscalyear(company, today=today)
                if fiscal_year else None))
        revenue, = Account.search([
                ('type.revenue', '=', True), ('closed', '!=', True),
                ('company', '=', company.id)], limit=1)
        # Each chart made with tax=True adds a VAT template: a second
        # company's chart has two; its own is the last.
        books.vat, = Tax.search([('company', '=', company.id)],
            order=[('id', 'DESC')], limit=1)
        books.fee, = Tax.create([{
                    'name': "Line fee", 'description': "Line fee",
                    'type': 'fixed', 'amount': Decimal('0.50'),
                    'invoice_account': books.vat.invoice_account.id,
                    'credit_note_account': (
                        books.vat.credit_note_account.id)}])

        def product(name, taxes):
            category, = Category.create([{
                        'name': name, 'accounting': True,
                        'account_revenue': revenue.id,
                        'customer_taxes': [('add', [x.id for x in taxes])]}])
            template, = Template.create([{
                        'name': name, 'type': 'service',
                        'default_uom': unit.id, 'list_price': Decimal(0),
                        'account_category': category.id,
                        'products': [('create', [{}])]}])
            return template.products[0]
        books.calls = product("Calls", [books.vat])
        books.extra = product("Extra lines", [books.vat, books.fee])
        books.service = product("Service", [books.vat])
        Configuration.write([Configuration(1)], {
                'usage_product': books.calls.id,
                'feature_product': books.extra.id})
    return books


def party_details(party, street, city, country, email=None, vat=None,
        peppol_id=None, registration=None):
    """Give ``party`` what an EN 16931 invoice names: its (first) address
    in ``country``, and optionally an e-mail for invoices, a UK VAT number,
    a Peppol participant id and a company registration number"""
    Party = Pool().get('party.party')
    identifiers = []
    if vat:
        identifiers.append({'type': 'gb_vat', 'code': vat})
    if registration:
        identifiers.append({'type': None, 'code': registration})
    address = {'street': street, 'city': city, 'postal_code': '10001',
        'country': country.id}
    Party.write([party], {
            'peppol_id': peppol_id,
            'addresses': [('write', [party.addresses[0].id], address)
                if party.addresses else ('create', [address])],
            'identifiers': [('create', identifiers)],
            'contact_mechanisms': [('create', [{
                            'type': 'email', 'value': email,
                            'invoice': True}])] if email else []})


def create_owner(config):
    """The owner company (in USD) and its chart, made after activate_modules.

    The company is made by root: until a company exists, the tenancy rule
    of telecom_base lets no user create a party."""
    with Transaction().start(config.database_name, 0) as transaction:
        pool = Pool()
        User = pool.get('res.user')
        currency = create_currency('USD')
        add_currency_rate(currency, 1)
        company = create_company("Owner Telecom", currency)
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'companies': [('add', [company.id])],
                'company': company.id})
        transaction.commit()
    User = Model.get('res.user', config=config)
    config._context = User.get_preferences(True, {})
    create_chart(config=config)


def rate_calls(config, calls):
    """Ingest ``calls`` — (account id, call id, callee, start, seconds) —
    as the switch does, rate them and return (rated, unrated)."""
    import datetime as dt
    with Transaction().start(config.database_name, 0) as transaction:
        Cdr = Pool().get('telecom.cdr')
        Cdr.ingest([{
                    'switch': 'test', 'call_id': call_id, 'leg': 'a',
                    'account': account, 'caller': '442071230000',
                    'callee': callee, 'start': start,
                    'answer': start,
                    'end': start + dt.timedelta(seconds=seconds),
                    'duration': seconds}
                for account, call_id, callee, start, seconds in calls])
        result = Cdr.rate_unrated()
        transaction.commit()
    return result
