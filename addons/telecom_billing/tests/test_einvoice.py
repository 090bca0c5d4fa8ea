"""EN 16931 / Peppol BIS Billing 3.0 e-invoices (issue 18): every kind of
document the suite produces — a postpaid PBX invoice with usage, a
recurring charge and VAT; a reseller's invoice; an invoice in another
currency; a paid (prepaid) invoice; a credit note; an export invoice not
subject to VAT — validated against the OASIS UBL 2.1 schema and the rules
of tests/ubl_rules.py, with amounts worked out by hand.

Prices (the owner's plan): UK mobile 0.05 to connect + 0.10 a minute, UK
0.02 a minute; Reseller One marks UK mobile up 20 % + 0.01 a minute."""
import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from lxml import etree

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.edocument_ubl.edocument import Invoice as TrytonUBL
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.modules.telecom_base.tests.tools import (
    create_customer, create_tenancy)
from trytond.modules.telecom_billing import document
from trytond.modules.telecom_billing.document import InvoiceDocument as Report
from trytond.modules.telecom_billing.tests.database import BillingTestCase
from trytond.modules.telecom_billing.tests.test_document import pdf_text
from trytond.modules.telecom_billing.tests.tools import (
    create_taxed_books, party_details)
from trytond.modules.telecom_billing.tests.ubl_rules import (
    Document, failures)
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

D = dt.date
JAN = (D(2024, 1, 1), D(2024, 1, 31))


def ubl(invoice):
    return invoice.telecom_ubl()[1]


def tax_codes(books):
    "UNECE codes on the books' VAT; a 0 % tax for what is outside scope"
    Tax = Pool().get('account.tax')
    Tax.write([books.vat], {
            'unece_code': 'VAT', 'unece_category_code': 'S'})
    books.outside, = Tax.create([{
                'name': "Outside the scope of VAT",
                'description': "Outside the scope of VAT",
                'legal_notice': "Services to a customer outside the UK "
                "and the EU: not subject to VAT",
                'company': books.vat.company.id,
                'type': 'percentage', 'rate': Decimal(0),
                'unece_code': 'VAT', 'unece_category_code': 'O',
                'invoice_account': books.vat.invoice_account.id,
                'credit_note_account': books.vat.credit_note_account.id}])


def setup():
    """The tenancy with taxed books for the owner and Reseller One, the
    parties' addresses, VAT numbers and electronic addresses, January's
    calls and a recurring charge, and both tenants' January runs. Returns
    (t, {kind: draft invoice})."""
    pool = Pool()
    Account = pool.get('telecom.account')
    Charge = pool.get('telecom.account.charge')
    Country = pool.get('country.country')
    Cdr = pool.get('telecom.cdr')
    Run = pool.get('telecom.billing.run')
    Rule = pool.get('account.tax.rule')
    Party = pool.get('party.party')
    User = pool.get('res.user')
    t = create_rating(create_tenancy())
    gb, us = Country.create([{'name': "United Kingdom", 'code': 'GB'},
            {'name': "United States", 'code': 'US'}])
    t.usd = create_currency('USD')
    add_currency_rate(t.usd, Decimal('1.25'))
    t.dollar_customer = create_customer(
        "Dollar Customer", t.owner, currency=t.usd.id)
    t.export_customer = create_customer("Export Customer", t.owner)
    Account.write([t.owner_customer, t.dollar_customer, t.export_customer],
        {'rate_plans': [('add', [t.owner_plan.id])]})
    Account.write([t.owner_customer], {'buyer_reference': 'PO-4711'})

    party_details(t.owner.party, "1 Telecom House", "London", gb,
        email='billing@owner.example', vat='980 7806 84',
        registration='01234567')
    party_details(t.r1.party, "2 Reseller Road", "Bristol", gb,
        email='invoices@reseller-one.example', vat='123 4567 82',
        peppol_id='0088:5790000435975')
    party_details(t.r1_account.party, "2 Reseller Road", "Bristol", gb,
        email='accounts@reseller-one.example')
    party_details(t.owner_customer.party, "3 Office Park", "Leeds", gb,
        email='ap@owner-customer.example', vat='999 9999 73')
    party_details(t.r1_customer.party, "4 Shop Street", "York", gb,
        email='ap@r1-customer.example')
    party_details(t.dollar_customer.party, "5 Dollar Avenue", "Boston", us,
        email='ap@dollar.example', peppol_id='0088:0614141000005')
    party_details(t.export_customer.party, "6 Export Way", "Chicago", us,
        email='ap@export.example')

    t.books = create_taxed_books(t.owner, today=D(2024, 1, 1))
    tax_codes(t.books)
    t.r1_books = create_taxed_books(t.r1, today=D(2024, 1, 1))
    tax_codes(t.r1_books)
    with set_company(t.owner):
        rule, = Rule.create([{
                    'name': "Outside the UK and the EU", 'kind': 'sale',
                    'lines': [('create', [{
                                    'origin_tax': t.books.vat.id,
                                    'tax': t.books.outside.id}])]}])
        Party.write([t.export_customer.party],
            {'customer_tax_rule': rule.id})
        # 10.00 a month for the PBX, net.
        Charge.create([{
                    'account': t.owner_customer.id,
                    'product': t.books.service.id,
                    'description': "Hosted PBX", 'quantity': 1,
                    'amount': Decimal('10.00'), 'currency': t.currency.id,
                    'recurrence': 'monthly', 'start_date': D(2024, 1, 1)}])

    start = dt.datetime(2024, 1, 10, 9)
    hour = dt.timedelta(hours=1)
    Cdr.ingest([
            # UK mobile, 120 s: 0.05 + 2 × 0.10 = 0.25 each.
            cdr(t.owner_customer, 'm1', '447700900001', start, 120),
            cdr(t.owner_customer, 'm2', '447700900002', start + hour, 120),
            cdr(t.owner_customer, 'm3', '447700900003', start + 2 * hour,
                120),
            # UK, 600 s: 10 × 0.02 = 0.20.
            cdr(t.owner_customer, 'f1', '442079460001', start + 3 * hour,
                600),
            # UK, 3000 s: 50 × 0.02 = 1.00 EUR = 1.25 USD.
            cdr(t.dollar_customer, 'd1', '442079460003', start, 3000),
            # UK, 1500 s: 25 × 0.02 = 0.50.
            cdr(t.export_customer, 'x1', '442079460004', start, 1500),
            # Reseller One's customer, UK 300 s: R1 retail.
            cdr(t.r1_customer, 'r1', '442079460002', start, 300),
            ])
    assert Cdr.rate_unrated() == (7, 0)
    owner_run = Run.bill(t.owner, *JAN, JAN[1])
    r1_run = Run.bill(t.r1, *JAN, JAN[1])
    User.write([User(Transaction().user)], {'company': t.owner.id})
    User._get_companies_cache.clear()
    by_account = {i.telecom_account: i for i in owner_run.invoices}
    invoices = {
        'pbx': by_account[t.owner_customer],
        'usd': by_account[t.dollar_customer],
        'export': by_account[t.export_customer],
        'reseller': r1_run.invoices[0],
        }
    return t, invoices


def post(invoices):
    Invoice = Pool().get('account.invoice')
    Invoice.telecom_post(invoices)
    return Invoice.browse(invoices)


def pay(t, invoice):
    "Pay ``invoice`` in full, as a prepaid balance does"
    pool = Pool()
    Method = pool.get('account.invoice.payment.method')
    Journal = pool.get('account.journal')
    Account = pool.get('account.account')
    Invoice = pool.get('account.invoice')
    MoveLine = pool.get('account.move.line')
    with set_company(t.owner):
        cash, = Account.search([('company', '=', t.owner.id),
                ('type.receivable', '=', False),
                ('type.payable', '=', False),
                ('type.revenue', '=', False),
                ('type.expense', '=', False),
                ('closed', '!=', True),
                ('type', '!=', None)], limit=1)
        journal, = Journal.search([('code', '=', 'CASH')], limit=1)
        method, = Method.create([{
                    'name': "Prepaid balance", 'company': t.owner.id,
                    'journal': journal.id, 'credit_account': cash.id,
                    'debit_account': cash.id}])
        lines = invoice.pay_invoice(
            invoice.amount_to_pay, method, invoice.invoice_date)
        invoice = Invoice(invoice.id)
        MoveLine.reconcile(list(invoice.lines_to_pay) + list(lines))
        Invoice.process([invoice])
    return Invoice(invoice.id)


class EInvoiceTestCase(BillingTestCase):
    "Test EN 16931 / Peppol BIS 3.0 invoices"

    @with_transaction()
    def test_documents(self):
        "Every kind of document passes the XSD and the rules, to the cent"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        t, invoices = setup()
        pbx, usd, export, reseller = post([invoices[k]
                for k in ['pbx', 'usd', 'export', 'reseller']])

        # The PBX: calls 0.75 + 0.20, the charge 10.00: 10.95 net, VAT
        # 20 % 2.19, 13.14 in all.
        self.assertEqual(pbx.total_amount, Decimal('13.14'))
        xml = ubl(pbx)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        self.assertEqual(doc.name, 'Invoice')
        self.assertEqual(doc.text('cbc:BuyerReference'), 'PO-4711')
        self.assertEqual(
            doc.text('cac:AccountingSupplierParty/cac:Party/'
                'cac:PartyTaxScheme/cbc:CompanyID'), 'GB980780684')
        self.assertEqual(
            doc.text('cac:AccountingCustomerParty/cac:Party/'
                'cac:PartyTaxScheme/cbc:CompanyID'), 'GB999999973')
        endpoint, = doc.xpath(
            'cac:AccountingSupplierParty/cac:Party/cbc:EndpointID')
        self.assertEqual((endpoint.get('schemeID'), endpoint.text),
            ('EM', 'billing@owner.example'))
        self.assertEqual([(e.tag.split('}')[1], e.text) for e in doc.xpath(
                        'cac:TaxTotal/cac:TaxSubtotal/*[self::cbc:*]')], [
                ('TaxableAmount', '10.95'), ('TaxAmount', '2.19')])
        self.assertEqual(doc.text('cac:TaxTotal/cac:TaxSubtotal/'
                'cac:TaxCategory/cbc:ID'), 'S')
        self.assertEqual(sorted(
                e.text for e in doc.xpath('cac:InvoiceLine/'
                    'cbc:LineExtensionAmount')), ['0.20', '0.75', '10.00'])
        self.assertEqual(doc.text('cac:LegalMonetaryTotal/'
                'cbc:PayableAmount'), '13.14')
        self.assertEqual(doc.text('cbc:IssueDate'), '2024-01-31')
        self.assertEqual(doc.text('cbc:DueDate'),
            str(pbx.lines_to_pay[0].maturity_date))

        # The reseller's invoice: 300 s of UK at R1's price, VAT 20 %,
        # R1 as seller with its Peppol id.
        xml = ubl(reseller)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        endpoint, = doc.xpath(
            'cac:AccountingSupplierParty/cac:Party/cbc:EndpointID')
        self.assertEqual((endpoint.get('schemeID'), endpoint.text),
            ('0088', '5790000435975'))
        self.assertEqual(doc.text('cac:AccountingSupplierParty/cac:Party/'
                'cac:PartyLegalEntity/cbc:RegistrationName'), "Reseller One")
        net = reseller.untaxed_amount
        self.assertEqual(reseller.tax_amount,
            (net * Decimal('0.2')).quantize(Decimal('0.01')))

        # In USD: 1.25 USD net, VAT 0.25 USD; the VAT in EUR at 1.25:
        # 0.20 EUR.
        self.assertEqual(
            (usd.untaxed_amount, usd.tax_amount, usd.total_amount),
            (Decimal('1.25'), Decimal('0.25'), Decimal('1.50')))
        xml = ubl(usd)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        self.assertEqual(doc.text('cbc:DocumentCurrencyCode'), 'USD')
        self.assertEqual(doc.text('cbc:TaxCurrencyCode'), 'EUR')
        self.assertEqual([(e.get('currencyID'), e.text) for e in doc.xpath(
                        'cac:TaxTotal/cbc:TaxAmount')],
            [('USD', '0.25'), ('EUR', '0.20')])

        # Export: outside the scope of VAT, the reason stated, no VAT
        # numbers (BR-O-02), the seller known by its registration.
        self.assertEqual(export.total_amount, Decimal('0.50'))
        xml = ubl(export)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        self.assertEqual(doc.text('cac:TaxTotal/cbc:TaxAmount'), '0.00')
        category, = doc.xpath('cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory')
        self.assertEqual(doc.text('cbc:ID', category), 'O')
        self.assertEqual(doc.xpath('cbc:Percent', category), [])
        self.assertIn("not subject to VAT",
            doc.text('cbc:TaxExemptionReason', category))
        self.assertEqual(doc.xpath('//cac:PartyTaxScheme'), [])
        self.assertEqual(doc.text('cac:AccountingSupplierParty/cac:Party/'
                'cac:PartyLegalEntity/cbc:CompanyID'), '01234567')

        # A credit note of the PBX invoice: a CreditNote (no header due
        # date), positive amounts, naming the invoice it credits.
        credit, = Invoice.credit([pbx])
        Invoice.write([credit], {'invoice_date': JAN[1]})
        credit, = post([credit])
        self.assertEqual(credit.total_amount, Decimal('-13.14'))
        xml = ubl(credit)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        self.assertEqual(doc.name, 'CreditNote')
        self.assertEqual(doc.text('cbc:CreditNoteTypeCode'), '381')
        self.assertEqual(doc.xpath('cbc:DueDate'), [])
        self.assertEqual(doc.text(
                'cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID'),
            pbx.number)
        self.assertEqual(doc.text('cac:LegalMonetaryTotal/'
                'cbc:PayableAmount'), '13.14')
        self.assertEqual(doc.text('cac:TaxTotal/cbc:TaxAmount'), '2.19')

        # Paid (a prepaid customer's invoice, paid from its balance):
        # 13.14 paid, 0.00 due.
        paid, = Invoice.copy([pbx], {'invoice_date': D(2024, 1, 31)})
        paid, = post([paid])
        paid = pay(t, paid)
        self.assertEqual(paid.state, 'paid')
        xml = ubl(paid)
        self.assertEqual(failures(xml), [])
        doc = Document(xml)
        self.assertEqual(doc.text('cac:LegalMonetaryTotal/'
                'cbc:PrepaidAmount'), '13.14')
        self.assertEqual(doc.text('cac:LegalMonetaryTotal/'
                'cbc:PayableAmount'), '0.00')

    @with_transaction()
    def test_pdf(self):
        "The PDF: VAT per rate, VAT numbers, the customer's formats, notes"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        t, invoices = setup()
        pbx, export = post([invoices['pbx'], invoices['export']])

        text = pdf_text(Report.pdf(pbx)[1])
        # 0.75 + 0.20 + 10.00 = 10.95 at 20 %: 2.19, 13.14 in all.
        for expected in ["0.75", "0.20", "10.00", "VAT 20 % EUR10.95 EUR2.19",
                "Total EUR13.14", "VAT GB980780684", "VAT GB999999973",
                "01/31/2024"]:
            self.assertIn(expected, text)
        text = pdf_text(Report.pdf(export)[1])
        self.assertIn("not subject to VAT", text)
        self.assertIn("EUR0.50 EUR0.00", text)

        credit, = Invoice.credit([pbx])
        Invoice.write([credit], {'invoice_date': JAN[1]})
        credit, = post([credit])
        text = pdf_text(Report.pdf(credit)[1])
        self.assertIn(f"Credit Note {credit.number}", text)
        self.assertIn(f"Credits invoice {pbx.number} of 01/31/2024", text)

        paid, = Invoice.copy([pbx], {'invoice_date': JAN[1]})
        paid, = post([paid])
        paid = pay(t, paid)
        text = pdf_text(Report.pdf(paid)[1])
        self.assertIn("Paid from balance, EUR0.00 due", text)

    @with_transaction()
    def test_rules_catch(self):
        "The rule checks fail what Tryton's own peppol-bis-3 template writes"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        EInvoice = pool.get('edocument.ubl.invoice')
        t, invoices = setup()
        pbx, = post([invoices['pbx']])
        credit, = Invoice.credit([pbx])
        Invoice.write([credit], {'invoice_date': JAN[1]})
        credit, = post([credit])
        # edocument_ubl's own rendering (its template, not ours): its
        # CreditNote has a header DueDate, invalid UBL 2.1.
        xml = TrytonUBL.render(EInvoice(credit), '2',
            specification='peppol-bis-3')
        found = failures(xml)
        self.assertTrue(any(f.startswith('UBL 2.1 XSD') and 'DueDate' in f
                for f in found), found)

    @with_transaction()
    def test_approve_refuses_missing(self):
        "Approval names what the seller or buyer lacks; nothing is posted"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Party = pool.get('party.party')
        Identifier = pool.get('party.identifier')
        Address = pool.get('party.address')
        t, invoices = setup()
        pbx = invoices['pbx']
        Identifier.delete(t.owner.party.identifiers)
        Address.write(list(t.owner_customer.party.addresses),
            {'country': None})
        Party.write([t.owner_customer.party], {'peppol_id': '0088:123'})
        with patch.object(document, 'send_message_transactional') as send, \
                self.assertRaises(UserError) as raised:
            Invoice.telecom_approve([pbx])
        send.assert_not_called()
        message = raised.exception.message
        self.assertIn('the seller "Owner Telecom" has no VAT number',
            message)
        self.assertIn('the buyer "Owner Customer" has no address with a '
            'street, a city and a country', message)
        self.assertNotIn('electronic address', message)
        self.assertEqual(Invoice(pbx.id).state, 'draft')

        with self.assertRaises(UserError):
            Party.write([t.owner_customer.party], {'peppol_id': 'gln 12'})

    @with_transaction()
    def test_approve_two_tenants(self):
        "One approval posts and sends drafts of two tenants"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        t, invoices = setup()
        selection = [invoices['pbx'], invoices['reseller']]
        with patch.object(document, 'send_message_transactional') as send:
            Invoice.telecom_approve(selection)
        self.assertEqual([i.state for i in Invoice.browse(selection)],
            ['posted', 'posted'])
        self.assertEqual(sorted(c.args[0]['To'] for c in send.call_args_list),
            ['Owner Customer <ap@owner-customer.example>',
                'R1 Customer <ap@r1-customer.example>'])
        for invoice in Invoice.browse(selection):
            xml, = [a.data for a in pool.get('ir.attachment').search([
                        ('resource', '=', str(invoice)),
                        ('name', 'like', '%.xml')])]
            self.assertEqual(failures(xml), [])

    @with_transaction()
    def test_xsd_before_email(self):
        "An XML the schema refuses is not e-mailed; nothing is posted"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        EInvoice = pool.get('edocument.ubl.invoice')
        t, invoices = setup()
        pbx = invoices['pbx']
        real = EInvoice.peppol_tree

        def broken(self):
            root = real(self)
            etree.SubElement(root, 'Unexpected').text = 'x'
            return root
        with patch.object(EInvoice, 'peppol_tree', broken), \
                patch.object(document, 'send_message_transactional') as send, \
                self.assertRaisesRegex(UserError, 'not valid UBL 2.1'):
            Invoice.telecom_approve([pbx])
        send.assert_not_called()
