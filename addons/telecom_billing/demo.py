"""The demo's e-invoicing (issue 18): books an accountant would accept —
VAT with UNECE codes on calls too, the tenants' addresses, VAT numbers,
electronic addresses and IBAN, currency exchange accounts, a tax for
customers outside the UK and the EU — and this month's documents, posted:
a PBX customer's invoice (calls, a recurring charge, VAT), a reseller's
invoice, the USD customer's prepaid invoice (not subject to VAT), a
prepaid customer's invoice paid from its balance, and a credit note.

Called by telecom_base's demo loader once its books exist
(``load(pool)``); does nothing when the demo already has it."""
import datetime as dt
from decimal import Decimal

from trytond.transaction import Transaction

# What each tenant's party is, as its invoices name it.
TENANTS = {
    "Northwind Voice": {
        'street': "1 Telecom House\nCanary Wharf", 'city': "London",
        'postal_code': "E14 5AB", 'vat': '980 7806 84',
        'registration': '09876543', 'email': 'billing@northwind.example.net',
        'iban': 'GB33BUKB20201555555555'},
    "Bluebell Telecom": {
        'street': "12 Bluebell Road", 'city': "Bristol",
        'postal_code': "BS1 4DJ", 'vat': '123 4567 82',
        'registration': '07654321', 'email': 'accounts@bluebell.example',
        'iban': 'GB94BARC10201530093459'},
    }
EUROPE = {'GB', 'AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI',
    'FR', 'GR', 'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL',
    'PT', 'RO', 'SE', 'SI', 'SK'}
OUTSIDE_SCOPE = "Outside the scope of VAT"
OUTSIDE_NOTICE = ("Telecommunication services to a customer outside the UK "
    "and the EU: not subject to UK VAT (place of supply).")


def load(pool):
    "Amend the demo books and post this month's documents; True if done"
    Tax = pool.get('account.tax')
    if Tax.search([('name', '=', OUTSIDE_SCOPE)], limit=1):
        return False
    Company = pool.get('company.company')
    for name, values in TENANTS.items():
        company, = Company.search([('party.name', '=', name)])
        _books(pool, company, values)
    _documents(pool)
    return True


def _books(pool, company, values):
    Tax = pool.get('account.tax')
    Account = pool.get('account.account')
    Configuration = pool.get('account.configuration')
    Category = pool.get('product.category')
    Party = pool.get('party.party')
    Address = pool.get('party.address')
    Country = pool.get('country.country')
    Rule = pool.get('account.tax.rule')
    BillingConfiguration = pool.get('telecom.billing.configuration')
    TelecomAccount = pool.get('telecom.account')
    gb, = Country.search([('code', '=', 'GB')])
    with Transaction().set_context(company=company.id):
        vat, = Tax.search([('company', '=', company.id),
                ('name', '=', "VAT 20 %")])
        Tax.write([vat], {'unece_code': 'VAT', 'unece_category_code': 'S'})
        outside, = Tax.create([{
                    'name': OUTSIDE_SCOPE, 'description': OUTSIDE_SCOPE,
                    'legal_notice': OUTSIDE_NOTICE, 'company': company.id,
                    'type': 'percentage', 'rate': Decimal(0),
                    'unece_code': 'VAT', 'unece_category_code': 'O',
                    'invoice_account': vat.invoice_account.id,
                    'credit_note_account': vat.credit_note_account.id}])
        rule, = Rule.create([{
                    'name': "Outside the UK and the EU", 'kind': 'sale',
                    'company': company.id,
                    'lines': [('create', [{
                                    'origin_tax': vat.id,
                                    'tax': outside.id}])]}])
        # Calls carry VAT like everything else sold.
        usage = BillingConfiguration(1).get_multivalue(
            'usage_product', company=company.id)
        Category.write([usage.account_category], {
                'customer_taxes': [('add', [vat.id])]})

        # Posting an invoice in another currency books its exchange
        # difference here: without it the USD customer cannot be billed.
        exchange, = Account.search([('company', '=', company.id),
                ('name', '=', "Foreign Currency Transaction Gain (Loss)")])
        configuration = Configuration(1)
        for name in ['currency_exchange_credit_account',
                'currency_exchange_debit_account']:
            configuration.set_multivalue(name, exchange, company=company.id)
        configuration.save()

        party = company.party
        address = {'street': values['street'], 'city': values['city'],
            'postal_code': values['postal_code'], 'country': gb.id}
        if party.addresses:
            Address.write([party.addresses[0]], address)
        else:
            Address.create([{'party': party.id, **address}])
        Party.write([party], {
                'identifiers': [('create', [
                            {'type': 'gb_vat', 'code': values['vat']},
                            {'type': None,
                                'code': values['registration']}])],
                'contact_mechanisms': [('create', [{
                                'type': 'email', 'value': values['email'],
                                'invoice': True}])]})
        _iban(pool, company, values['iban'])
        # The customers outside the UK and the EU (Globex).
        for account in TelecomAccount.search([
                    ('company', '=', company.id)]):
            country = account.party.address_get('invoice').country
            if country and country.code not in EUROPE:
                account.party.customer_tax_rule = rule
                account.party.save()


def _iban(pool, company, iban):
    "The company's bank account, named on its invoices to pay to"
    try:
        BankAccount = pool.get('bank.account')
    except KeyError:
        return
    Bank = pool.get('bank')
    Party = pool.get('party.party')
    Rule = pool.get('account.invoice.payment.mean.rule')
    bank_party, = Party.create([{'name': f"Bank of {company.rec_name}"}])
    bank, = Bank.create([{'party': bank_party.id}])
    account, = BankAccount.create([{
                'bank': bank.id, 'currency': company.currency.id,
                'owners': [('add', [company.party.id])],
                'numbers': [('create', [{
                                'type': 'iban', 'number': iban}])]}])
    Rule.create([{'company': company.id, 'instrument': str(account)}])


def _documents(pool):
    """This month's calls and runs, posted: drafts of the postpaid
    accounts posted as an approval would (without e-mail: the demo has no
    mail server), prepaid ones paid from the balance by the run, and a
    credit note of the PBX customer's invoice"""
    Company = pool.get('company.company')
    TelecomAccount = pool.get('telecom.account')
    Charge = pool.get('telecom.account.charge')
    Cdr = pool.get('telecom.cdr')
    Run = pool.get('telecom.billing.run')
    Invoice = pool.get('account.invoice')
    Template = pool.get('product.template')
    Category = pool.get('product.category')
    Uom = pool.get('product.uom')
    today = pool.get('ir.date').today()
    # Last month, billed in arrears (its monthly charges too) — in January
    # this month so far, the demo's books starting this year.
    end = today.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1)
    if start.year != today.year:
        start, end = today.replace(day=1), today
    owner, = Company.search([('party.name', '=', "Northwind Voice")])
    bluebell, = Company.search([('party.name', '=', "Bluebell Telecom")])

    def account(name):
        return TelecomAccount.search([('party.name', '=', name)])[0]
    acme = account("Acme Offices")
    with Transaction().set_context(company=owner.id):
        unit, = Uom.search([('name', '=', 'Unit')])
        services, = Category.search([
                ('name', '=', "Services of Northwind Voice")])
        hosting, = Template.create([{
                    'name': "Hosted PBX seat", 'type': 'service',
                    'default_uom': unit.id, 'list_price': Decimal('8.50'),
                    'account_category': services.id,
                    'products': [('create', [{}])]}])
        # 3 seats at 8.50 a month, net.
        Charge.create([{
                    'account': acme.id, 'product': hosting.products[0].id,
                    'description': "Hosted PBX, 3 seats", 'quantity': 3,
                    'amount': Decimal('8.50'), 'currency': owner.currency.id,
                    'recurrence': 'monthly', 'start_date': start}])
    first = dt.datetime.combine(start, dt.time(0, 5))
    calls = []
    for name, callee, seconds in [
            ("Acme Offices", '442079460001', 600),
            ("Acme Offices", '447700900001', 125),
            ("Acme Offices", '33142000000', 300),
            ("Globex Wholesale", '442079460002', 1800),
            ("Rosa Martin", '447700900002', 240),
            ("Harbour Dental", '447700900003', 900),
            ]:
        calls.append({
                'switch': 'demo-kamailio', 'call_id': f'demo-{len(calls)}',
                'leg': 'a', 'account': account(name).id,
                'caller': '442071230000', 'callee': callee,
                'start': first + dt.timedelta(minutes=len(calls)),
                'answer': first + dt.timedelta(minutes=len(calls)),
                'end': first + dt.timedelta(
                    minutes=len(calls), seconds=seconds),
                'duration': seconds})
    Cdr.ingest(calls)
    Cdr.rate_unrated()
    drafts = []
    for company in [owner, bluebell]:
        run = Run.bill(company, start, end, today)
        drafts.extend(i for i in run.invoices if i.state == 'draft')
    Invoice.telecom_post(drafts)
    acme_invoice, = [i for i in Invoice.browse(drafts)
        if i.telecom_account == acme]
    credit, = Invoice.credit([acme_invoice])
    credit.description = "Goodwill: first month's calls"
    credit.lines = [line for line in credit.lines
        if line.product and line.product.template.name == "Calls"]
    credit.save()
    Invoice.update_taxes([credit])
    Invoice.telecom_post([credit])
