"""Invoice documents (F30): the branded PDF with usage summary and call
annex, the UBL 2.1 XML and its XSLT, approval with e-mail, batch download
and overdue reminders. Amounts are worked out by hand from the owner's plan
(UK mobile: 0.05 to connect + 0.10 a minute; UK: 0.02 a minute)."""
import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from unittest.mock import patch

from lxml import etree
from pypdf import PdfReader

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.telecom_base.tests.tools import as_user, create_tenancy
from trytond.modules.telecom_billing import document
from trytond.modules.telecom_billing.tests.database import (
    BillingTestCase, create_usage_product)
from trytond.modules.telecom_billing.tests.tools import party_details
from trytond.modules.telecom_billing.ubl import XSD as UBL_XSD
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

D = dt.date
HERE = Path(__file__).parent
XSD = UBL_XSD['Invoice']
XSL = HERE.parent / 'ubl' / 'invoice.xsl'
LOGO = (b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30">'
    b'<rect width="120" height="30" fill="#c0392b"/></svg>')


def pdf_text(data):
    pages = PdfReader(io.BytesIO(data)).pages
    return '\n'.join(p.extract_text() for p in pages)


def billed():
    """The tenancy with a chart, fiscal year 2024 and usage product for the
    owner and Reseller One, January's calls rated, and both tenants' runs:
    returns (t, owner customer's draft invoice, R1 customer's)."""
    pool = Pool()
    TelecomAccount = pool.get('telecom.account')
    Cdr = pool.get('telecom.cdr')
    Run = pool.get('telecom.billing.run')
    Brand = pool.get('telecom.brand')
    t = create_rating(create_tenancy())
    TelecomAccount.write([t.owner_customer], {
            'rate_plans': [('add', [t.owner_plan.id])]})
    gb, = pool.get('country.country').create([
            {'name': "United Kingdom", 'code': 'GB'}])
    # What an EN 16931 invoice names: the sellers' VAT numbers, everyone's
    # address and e-mail for invoices.
    for party, email, vat in [
            (t.owner_customer.party, 'billing@owner-customer.example', None),
            (t.r1_customer.party, 'ap@r1-customer.example', None),
            (t.r1.party, 'invoices@reseller-one.example', '123 4567 82'),
            (t.owner.party, 'billing@owner.example', '980 7806 84'),
            (t.r1_account.party, 'accounts@reseller-one.example', None)]:
        party_details(party, "1 High Street", "London", gb, email=email,
            vat=vat)
    for company in [t.owner, t.r1]:
        create_usage_product(company, fiscal_year=D(2024, 1, 1))
    t.owner_brand, t.r1_brand = Brand.create([{
                'name': "Owner Mobile", 'company': t.owner.id,
                'default': True, 'primary_colour': '#c0392b',
                'support_email': 'help@owner.example',
                'email_from': 'Owner Mobile <billing@owner.example>',
                'logo': LOGO, 'logo_type': 'image/svg+xml'}, {
                'name': "R1 Voice", 'company': t.r1.id,
                'primary_colour': '#2e7d32',
                'support_phone': '+44 20 7946 0000',
                'plans': [('add', [t.r1_plan.id])]}])
    TelecomAccount.write([t.owner_customer], {'itemised_annex': True})

    start = dt.datetime(2024, 1, 10, 9)
    hour = dt.timedelta(hours=1)
    Cdr.ingest([
            # UK mobile, 120 s: 0.05 + 2 × 0.10 = 0.25 each.
            cdr(t.owner_customer, 'm1', '447700900001', start, 120),
            cdr(t.owner_customer, 'm2', '447700900002', start + hour, 120),
            cdr(t.owner_customer, 'm3', '447700900003',
                start + 2 * hour, 120),
            # UK, 600 s: 10 × 0.02 = 0.20.
            cdr(t.owner_customer, 'f1', '442079460001',
                start + 3 * hour, 600),
            cdr(t.r1_customer, 'r1', '442079460002', start, 300),
            ])
    assert Cdr.rate_unrated() == (5, 0)
    owner_run = Run.bill(t.owner, D(2024, 1, 1), D(2024, 1, 31))
    r1_run = Run.bill(t.r1, D(2024, 1, 1), D(2024, 1, 31))
    invoice, = [i for i in owner_run.invoices
        if i.telecom_account == t.owner_customer]
    r1_invoice, = r1_run.invoices
    # set_company left the test user in Reseller One: back to the owner.
    User = pool.get('res.user')
    User.write([User(Transaction().user)], {'company': t.owner.id})
    User._get_companies_cache.clear()
    return t, invoice, r1_invoice


class DocumentTestCase(BillingTestCase):
    "Test invoice documents"

    @with_transaction()
    def test_pdf(self):
        "The PDF shows the brand, the totals, the usage summary and annex"
        pool = Pool()
        Report = pool.get('telecom.invoice.document', type='report')
        t, invoice, r1_invoice = billed()
        self.assertEqual(invoice.total_amount, Decimal('0.95'))

        summary = invoice.telecom_usage_summary()
        self.assertEqual([(r.destination, r.calls, r.minutes, r.amount)
                for r in summary], [
                ("UK", 1, Decimal('10.00'), Decimal('0.20')),
                ("UK mobile", 3, Decimal('6.00'), Decimal('0.75'))])
        annex = invoice.telecom_annex()
        self.assertEqual([(c.callee, c.seconds, c.amount) for c in annex], [
                ('447700900001', 120, Decimal('0.25')),
                ('447700900002', 120, Decimal('0.25')),
                ('447700900003', 120, Decimal('0.25')),
                ('442079460001', 600, Decimal('0.20'))])

        ext, content, _, name = Report.execute([invoice.id], {})
        self.assertEqual(ext, 'pdf')
        text = pdf_text(content)
        for expected in ["Owner Mobile", "Owner Customer", "Usage summary",
                "Itemised calls", "447700900003", "442079460001",
                "help@owner.example", "0.95"]:
            self.assertIn(expected, text)
        # The logo is drawn from its data URL, in the brand's colour.
        html = Report.html(invoice)
        self.assertIn('data:image/svg+xml;base64,', html)
        self.assertIn('#c0392b', html)

        # The reseller's customer sees the reseller's brand only, and no
        # annex (neither its account nor its plan asks for one).
        html = Report.html(r1_invoice)
        self.assertIn("R1 Voice", html)
        self.assertIn('#2e7d32', html)
        self.assertNotIn("Owner Mobile", html)
        self.assertNotIn("Itemised calls", html)

    @with_transaction()
    def test_ubl_xslt(self):
        "The UBL XML validates against UBL 2.1 and the XSLT renders it"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        t, invoice, _ = billed()
        Invoice.post([invoice])
        name, xml = invoice.telecom_ubl()
        self.assertTrue(name.endswith('.xml'))
        self.assertIn(
            b'<?xml-stylesheet type="text/xsl" href="invoice.xsl"?>', xml)
        tree = etree.fromstring(xml)
        etree.XMLSchema(etree.parse(str(XSD))).assertValid(tree)

        html = etree.XSLT(etree.parse(str(XSL)))(tree)
        text = ' '.join(html.getroot().itertext())
        self.assertIn(f"Invoice {invoice.number}", text)
        self.assertIn("Owner Customer", text)
        self.assertEqual(
            [' '.join(''.join(td.itertext()).split())
                for td in html.xpath('//tr[@class="payable"]/td')],
            ["Amount due", "0.95 EUR"])
        amounts = [' '.join(''.join(tr[4].itertext()).split())
            for tr in html.xpath('//table[@class="lines"]/tr')[1:]]
        self.assertEqual(sorted(amounts), ["0.20 EUR", "0.75 EUR"])

    @with_transaction()
    def test_approve(self):
        "Approving posts and e-mails PDF and XML; bad input changes nothing"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Email = pool.get('ir.email')
        Attachment = pool.get('ir.attachment')
        ContactMechanism = pool.get('party.contact_mechanism')
        TelecomAccount = pool.get('telecom.account')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        t, invoice, r1_invoice = billed()

        with patch.object(document, 'send_message_transactional') as send:
            Invoice.telecom_approve([invoice])
        self.assertEqual(invoice.state, 'posted')
        msg, = [c.args[0] for c in send.call_args_list]
        self.assertEqual(msg['To'],
            'Owner Customer <billing@owner-customer.example>')
        # The brand's sender, through Tryton's rule for a domain other than
        # the server's: replies go to the brand.
        self.assertEqual(
            msg['Reply-To'], 'Owner Mobile <billing@owner.example>')
        self.assertEqual(msg['Subject'],
            f"Owner Mobile invoice {invoice.number}")
        files = {p.get_filename(): p.get_content()
            for p in msg.iter_attachments()}
        pdf_name = f'{invoice.number}.pdf'.lower()
        self.assertEqual(sorted(files), sorted([
                    pdf_name, f'{invoice.number}.xml'.lower()]))
        self.assertIn("0.95", pdf_text(files[pdf_name]))
        self.assertEqual(invoice.telecom_sent_to,
            'billing@owner-customer.example')
        self.assertEqual(Email.search([
                    ('resource', '=', str(invoice))], count=True), 1)
        self.assertEqual(Attachment.search([
                    ('resource', '=', str(invoice))], count=True), 2)

        # Approving again is refused and sends nothing.
        with patch.object(document, 'send_message_transactional') as send, \
                self.assertRaisesRegex(UserError, 'is Posted'):
            Invoice.telecom_approve([invoice])
        send.assert_not_called()

        # The reseller's customer has no address for invoices: refused,
        # the invoice stays a draft.
        ContactMechanism.delete(r1_invoice.party.contact_mechanisms)
        with patch.object(document, 'send_message_transactional') as send, \
                self.assertRaisesRegex(UserError, 'no e-mail address'):
            Invoice.telecom_approve([r1_invoice])
        send.assert_not_called()
        self.assertEqual(r1_invoice.state, 'draft')

        # Flagged to go through its reseller: the reseller's user approves
        # it and Reseller One gets it to forward; the owner's invoices are
        # out of its reach.
        TelecomAccount.write([t.r1_customer], {'invoice_via_reseller': True})
        # Its e-invoice's electronic address: a Peppol id.
        pool.get('party.party').write([r1_invoice.party],
            {'peppol_id': '0088:0614141000005'})
        User.write([t.r1_user], {'groups': [('add', [
                            ModelData.get_id('account', 'group_account')])]})
        with as_user(t.r1_user):
            self.assertEqual(Invoice.search([]), [r1_invoice])
            with patch.object(document, 'send_message_transactional'), \
                    self.assertRaises(AccessError):
                Invoice.telecom_approve([Invoice(invoice.id)])
            with patch.object(
                    document, 'send_message_transactional') as send:
                Invoice.telecom_approve([Invoice(r1_invoice.id)])
        msg, = [c.args[0] for c in send.call_args_list]
        self.assertEqual(msg['To'],
            'Reseller One <invoices@reseller-one.example>')
        self.assertIn("for you to forward", msg.get_body(
                ('plain',)).get_content())
        self.assertEqual(Invoice(r1_invoice.id).state, 'posted')

    @with_transaction()
    def test_download(self):
        "Selected invoices as one ZIP of PDFs or one PDF, within the tenant"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Download = pool.get('telecom.invoice.download', type='wizard')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        t, invoice, r1_invoice = billed()
        reseller, = [i for i in invoice.telecom_run.invoices
            if i != invoice]
        invoices = [invoice, reseller]

        def download(records, format):
            session_id, _, _ = Download.create()
            wizard = Download(session_id)
            wizard.start.format = format
            with Transaction().set_context(
                    active_model='account.invoice',
                    active_ids=[i.id for i in records],
                    active_id=records[0].id):
                wizard.transition_download()
            return wizard.result.filename, wizard.result.file

        name, data = download(invoices, 'zip')
        self.assertTrue(name.endswith('.zip'))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            self.assertEqual(len(names), 2)
            texts = [pdf_text(archive.read(n)) for n in names]
        self.assertTrue(any("Owner Customer" in t_ for t_ in texts))
        self.assertTrue(any("Reseller One" in t_ for t_ in texts))

        # A batch converted by worker processes gives the same documents.
        Report = pool.get('telecom.invoice.document', type='report')
        self.assertEqual(
            [(n, pdf_text(d)) for n, d in Report.pdfs(
                    invoices, workers=2, min_batch=2)],
            [(n, pdf_text(d)) for n, d in Report.pdfs(invoices, workers=1)])

        name, data = download(invoices, 'pdf')
        self.assertTrue(name.endswith('.pdf'))
        reader = PdfReader(io.BytesIO(data))
        # The owner customer's invoice has its call annex on a page of
        # its own: 2 pages, plus 1 for the reseller's invoice.
        self.assertEqual(len(reader.pages), 3)

        User.write([t.r1_user], {'groups': [('add', [
                            ModelData.get_id('account', 'group_account')])]})
        with as_user(t.r1_user):
            with self.assertRaises(AccessError):
                download([Invoice(r1_invoice.id), Invoice(invoice.id)], 'zip')
            name, data = download([Invoice(r1_invoice.id)], 'zip')
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            self.assertEqual(len(archive.namelist()), 1)

    @with_transaction()
    def test_dunning_email(self):
        "An overdue posted invoice gets the reminder e-mail"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Party = pool.get('party.party')
        Dunning = pool.get('account.dunning')
        Email = pool.get('ir.email')
        ModelData = pool.get('ir.model.data')
        Procedure = pool.get('account.dunning.procedure')
        Process = pool.get('account.dunning.process', type='wizard')
        from trytond.modules.account_dunning_email import account
        t, invoice, _ = billed()
        procedure = Procedure(ModelData.get_id(
                'telecom_billing', 'dunning_procedure_reminder'))
        Party.write([invoice.party], {'dunning_procedure': procedure.id})
        # Due a month after the invoice date (a date now in the past).
        invoice.payment_term_date = D(2024, 3, 1)
        invoice.save()
        with Transaction().set_context(_skip_warnings=True):
            Invoice.post([invoice])
        line, = invoice.lines_to_pay
        self.assertEqual(line.maturity_date, D(2024, 3, 1))

        # 6 days late is not yet overdue for the 7-day level; 7 days is.
        Dunning.generate_dunnings(date=D(2024, 3, 7))
        self.assertEqual(Dunning.search([]), [])
        Dunning.generate_dunnings(date=D(2024, 3, 8))
        dunning, = Dunning.search([])
        self.assertEqual(dunning.line, line)
        with patch.object(account, 'send_message_transactional') as send, \
                patch.object(account, 'SMTPDataManager'):
            session_id, _, _ = Process.create()
            process = Process(session_id)
            with Transaction().set_context(
                    active_model='account.dunning', active_ids=[dunning.id],
                    active_id=dunning.id):
                process.execute(session_id, {}, 'process')
        msg, = [c.args[0] for c in send.call_args_list]
        self.assertEqual(msg['To'],
            'Owner Customer <billing@owner-customer.example>')
        self.assertEqual(msg['Subject'], "Invoice Reminder")
        body = msg.get_body(('html', 'plain')).get_content()
        self.assertIn(invoice.number, body)
        self.assertIn("0.95", body)
        self.assertEqual(Email.search([
                    ('resource', '=', str(dunning))], count=True), 1)
