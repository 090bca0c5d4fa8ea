"""Invoice documents (F30): the branded PDF, the UBL 2.1 XML, approval and
e-mail, and the download of many PDFs as one file."""
import base64
import datetime as dt
import io
import logging
import multiprocessing
import os
import zipfile
from collections import deque, namedtuple
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from email.message import EmailMessage

import trytond.config as config
from genshi.template import MarkupTemplate

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.sendmail import send_message_transactional
from trytond.tools import slugify
from trytond.tools.email_ import format_address, set_from_header
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .cdr import billed_table
from . import ubl
from .exceptions import DocumentError

# Where a browser finds the stylesheet that renders the XML (F30): beside
# the XML when both are saved from the e-mail, or at the portal's /ubl/.
UBL_STYLESHEET = 'invoice.xsl'
UBL_VERSION = '2'
logger = logging.getLogger(__name__)

UsageRow = namedtuple('UsageRow', 'destination kind calls minutes amount')
AnnexCall = namedtuple(
    'AnnexCall', 'start callee destination seconds amount currency')
Look = namedtuple(
    'Look', 'name logo primary secondary support footer email_from')


def html_to_pdf(html):
    "The PDF of ``html`` (a process pool's task: no database, no pool)"
    return weasyprint_html(html).write_pdf()


def weasyprint_html(html):
    """A WeasyPrint document of ``html``: only ``data:`` URLs are fetched,
    so a template can neither read local files nor call out (the logo is
    inlined as a data URL)."""
    import weasyprint
    return weasyprint.HTML(
        string=html,
        url_fetcher=weasyprint.URLFetcher(allowed_protocols={'data'}))


class InvoiceDocument(Report):
    "The PDF of a customer invoice, in the layout and brand of its customer"
    __name__ = 'telecom.invoice.document'
    # Compiled layouts by (template id, last change): a run renders
    # thousands of invoices with a handful of layouts.
    _layouts = {}

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        invoice = context['record']
        context.update(invoice.telecom_document_context())
        return context

    @classmethod
    def render(cls, report, report_context):
        template = report_context['template']
        key = (template.id, template.write_date or template.create_date)
        layout = cls._layouts.get(key)
        if layout is None:
            if len(cls._layouts) > 64:
                cls._layouts.clear()
            layout = cls._layouts[key] = MarkupTemplate(
                template.get_content(), filename=template.name)
        return layout.generate(**report_context).render(
            'html', doctype='html5', encoding=None)

    @classmethod
    def convert(cls, report, data, timeout=None, retry=None):
        return 'pdf', weasyprint_html(data).write_pdf()

    @classmethod
    def html(cls, invoice):
        "The rendered HTML of ``invoice`` (before conversion to PDF)"
        context = cls.get_context([invoice], {}, {})
        return cls.render(None, context)

    @classmethod
    def filename(cls, invoice):
        return f'{slugify(invoice.number or str(invoice.id))}.pdf'

    @classmethod
    def pdf(cls, invoice):
        "(file name, PDF bytes) of ``invoice``"
        return cls.filename(invoice), html_to_pdf(cls.html(invoice))

    @classmethod
    def pdfs(cls, invoices, workers=None, min_batch=8):
        """Yield (file name, PDF bytes) of ``invoices``, in order.

        The HTML is rendered here (it reads the database); WeasyPrint, which
        takes most of the time and needs only the HTML, runs in ``workers``
        processes (default: one per CPU) for batches of ``min_batch`` or
        more (starting them costs about a PDF). They are spawned, not
        forked: a forked child would share this process's database
        connections."""
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(invoices) < min_batch:
            for invoice in invoices:
                yield cls.pdf(invoice)
            return
        context = multiprocessing.get_context('spawn')
        with ProcessPoolExecutor(workers, mp_context=context) as executor:
            # A bounded window: the HTML of a few invoices per worker is
            # pending at a time, not the whole batch.
            pending = deque()
            for invoice in invoices:
                pending.append((cls.filename(invoice),
                        executor.submit(html_to_pdf, cls.html(invoice))))
                if len(pending) >= 4 * workers:
                    name, future = pending.popleft()
                    yield name, future.result()
            for name, future in pending:
                yield name, future.result()

    @classmethod
    def merged_pdf(cls, invoices):
        "One PDF of ``invoices``, each starting on its own page"
        documents = [weasyprint_html(cls.html(i)).render() for i in invoices]
        pages = [p for d in documents for p in d.pages]
        return documents[0].copy(pages).write_pdf()


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'
    telecom_sent_to = fields.Char(
        "Sent To", readonly=True,
        states={
            'invisible': ~Eval('telecom_sent_to'),
            },
        help="Where the approved invoice was e-mailed.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._check_modify_exclude.add('telecom_sent_to')
        cls._buttons.update({
                'telecom_approve': {
                    'invisible': (
                        ~Eval('state').in_(['draft', 'validated'])
                        | (Eval('type') != 'out')),
                    'depends': ['state', 'type'],
                    },
                })

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('telecom_sent_to')
        return super().copy(invoices, default=default)

    @property
    def telecom_brand(self):
        "The brand the customer sees: its plan's, else its tenant's default"
        Brand = Pool().get('telecom.brand')
        if self.telecom_account:
            return Brand.resolve(account=self.telecom_account)
        return Brand._default_of(self.company)

    @property
    def telecom_itemised(self):
        "Whether the invoice has the itemised call annex"
        account = self.telecom_account
        return bool(account and self.telecom_run and (
                account.itemised_annex
                or any(p.itemised_annex for p in account.rate_plans)))

    def telecom_look(self):
        "The brand's name, logo, colours and contacts, or the issuer's"
        Brand = Pool().get('telecom.brand')
        brand = self.telecom_brand
        if brand is None:
            brand = Brand(
                name=self.company.rec_name, logo=None,
                primary_colour=Brand.default_primary_colour(),
                secondary_colour=Brand.default_secondary_colour())
        logo = None
        if brand.logo:
            logo = 'data:%s;base64,%s' % (
                brand.logo_type or 'image/png',
                base64.b64encode(brand.logo).decode())
        support = ' · '.join(filter(None, [
                    getattr(brand, 'support_email', None),
                    getattr(brand, 'support_phone', None),
                    getattr(brand, 'website', None)]))
        return Look(
            name=brand.name, logo=logo,
            primary=brand.primary_colour, secondary=brand.secondary_colour,
            support=support,
            footer=' · '.join(filter(None, [brand.name, support])),
            email_from=getattr(brand, 'email_from', None))

    def telecom_usage_summary(self):
        """Calls, minutes and amount per destination and kind, from the
        invoice's usage and adjustment lines (the run groups calls per
        plan and destination, so this is a handful of lines)."""
        Line = Pool().get('account.invoice.line')
        kinds = dict(Line.fields_get(
                ['telecom_kind'])['telecom_kind']['selection'])
        rows = {}
        for line in self.lines:
            if line.telecom_kind not in {'usage', 'adjustment'}:
                continue
            key = (line.telecom_destination or '', line.telecom_kind)
            calls, seconds, amount = rows.get(key, (0, 0, Decimal(0)))
            rows[key] = (calls + (line.telecom_calls or 0),
                seconds + (line.telecom_seconds or 0),
                amount + line.amount)
        return [UsageRow(destination, kinds.get(kind, kind), calls,
                (Decimal(seconds) / 60).quantize(Decimal('0.01')), amount)
            for (destination, kind), (calls, seconds, amount)
            in sorted(rows.items())]

    def telecom_annex(self):
        """The calls of the invoice, read in SQL (an annex may list tens of
        thousands): the current charges of the account billed by the
        invoice's run, oldest first."""
        pool = Pool()
        Charge = pool.get('telecom.cdr.charge')
        Cdr = pool.get('telecom.cdr')
        Currency = pool.get('currency.currency')
        charge, cdr, currency, billed = (Charge.__table__(),
            Cdr.__table__(), Currency.__table__(), billed_table())
        cursor = Transaction().connection.cursor()
        cursor.execute(*billed
            .join(charge, condition=billed.charge == charge.id)
            .join(cdr, condition=charge.cdr == cdr.id)
            .join(currency, condition=charge.currency == currency.id)
            .select(cdr.start, cdr.callee,
                charge.destination, charge.charged_seconds,
                charge.amount, currency.code,
                where=(billed.run == self.telecom_run.id)
                & (billed.account == self.telecom_account.id)
                & (charge.current == True),  # noqa: E712
                order_by=[cdr.start, cdr.id]))
        return [AnnexCall(start, callee or '', destination or '',
                seconds or 0, Decimal(str(amount)), code)
            for start, callee, destination, seconds, amount, code
            in cursor]

    def telecom_document_context(self):
        "What the invoice layout is rendered with, besides trytond's"
        look = self.telecom_look()
        brand = self.telecom_brand
        template = (brand.get_invoice_template() if brand
            else Pool().get('telecom.invoice.template').standard())
        maturities = [line.maturity_date for line in self.lines_to_pay
            if line.maturity_date]
        return {
            'look': look,
            'template': template,
            'usage': self.telecom_usage_summary(),
            'annex': self.telecom_annex() if self.telecom_itemised else None,
            'due_date': min(maturities) if maturities else None,
            'lang': Pool().get('ir.lang').get(self.party_lang),
            'vat_rows': self.telecom_vat_rows(),
            'seller_vat': ubl.vat_number(
                self.tax_identifier or self.get_tax_identifier()),
            'buyer_vat': ubl.vat_number(
                self.party_tax_identifier or self.party.tax_identifier),
            'ibans': self.telecom_ibans(),
            'credited': [i for i in self.origin_invoices if i.number],
            'paid_from_balance': (self.state == 'paid'
                and self.amount_to_pay == 0 and bool(self.total_amount)),
            }

    def telecom_vat_rows(self):
        """(label, taxable base, VAT) per VAT category and rate, in the
        invoice's signs: the breakdown the UBL states"""
        EInvoice = Pool().get('edocument.ubl.invoice')
        document = EInvoice(self)
        rows = []
        for row in document.vat_breakdown:
            category = row.category
            if category.rate is not None and category.code in {'S', 'Z'}:
                label = gettext('telecom_billing.msg_pdf_vat_rate',
                    rate=ubl.percent(category.rate))
            else:
                label = category.reason or category.code
            rows.append((label, document.sign * row.base,
                    document.sign * row.amount))
        return rows

    def telecom_ibans(self):
        "The IBANs the customer pays to, written in groups of four"
        EInvoice = Pool().get('edocument.ubl.invoice')
        return [' '.join(iban[i:i + 4] for i in range(0, len(iban), 4))
            for _, iban in EInvoice(self).payee_accounts]

    def telecom_ubl(self):
        """(file name, bytes) of the UBL 2.1 invoice or credit note (Peppol
        BIS Billing 3.0), with the processing instruction that lets a
        browser render it through our XSLT"""
        EInvoice = Pool().get('edocument.ubl.invoice')
        document = EInvoice(self)
        xml = document.render(UBL_VERSION, specification=ubl.SPECIFICATION)
        declaration, _, body = xml.partition(b'?>')
        pi = f'<?xml-stylesheet type="text/xsl" href="{UBL_STYLESHEET}"?>'
        return (document.filename,
            declaration + b'?>\n' + pi.encode() + body)

    def telecom_recipient(self):
        """(party, e-mail address) the approved invoice goes to: the
        customer's invoice e-mail, or its reseller's when the account asks
        for invoices to go through the reseller (who forwards them)."""
        account = self.telecom_account
        party = self.party
        if (account and account.invoice_via_reseller
                and account.company.parent):
            party = account.company.party
        mechanism = party.contact_mechanism_get('email', usage='invoice')
        if not mechanism or not mechanism.email:
            raise DocumentError(gettext(
                    'telecom_billing.msg_invoice_no_email',
                    invoice=self.rec_name, party=party.rec_name))
        return party, mechanism.email

    @classmethod
    @ModelView.button
    def telecom_approve(cls, invoices):
        """Post reviewed drafts and e-mail each to its recipient.

        Everything is checked before anything is posted, and the e-mails
        leave at commit (send_message_transactional): a refused approval
        changes nothing and sends nothing."""
        cls.lock(invoices)
        states = dict(cls.fields_get(['state'])['state']['selection'])
        for invoice in invoices:
            if invoice.type != 'out' or invoice.state not in {
                    'draft', 'validated'}:
                raise DocumentError(gettext(
                        'telecom_billing.msg_invoice_approve_state',
                        invoice=invoice.rec_name,
                        state=states[invoice.state]))
            invoice.telecom_recipient()
            missing = ubl.missing(invoice)
            if missing:
                raise DocumentError(gettext(
                        'telecom_billing.msg_einvoice_missing',
                        invoice=invoice.rec_name,
                        missing='; '.join(missing)))
        cls.telecom_post(invoices)
        for invoice in cls.browse([i.id for i in invoices]):
            invoice.telecom_send()

    @classmethod
    def telecom_post(cls, invoices):
        """Post ``invoices`` one company at a time: account_invoice 8.0
        fails to post invoices of two companies in one call (a selection
        of two tenants' drafts)."""
        companies = {}
        for invoice in invoices:
            companies.setdefault(invoice.company, []).append(invoice)
        for company, group in companies.items():
            with Transaction().set_context(company=company.id):
                cls.post(cls.browse(group))

    @classmethod
    def telecom_send_posted(cls, invoices):
        """E-mail, as approval does, the posted customer ``invoices`` not
        sent yet; leave unsent (and log) those whose recipient has no
        e-mail address — the portal shows them all the same.

        For invoices posted without the review (prepaid ones, paid from
        the balance): called through the queue, so a billing run's
        thousands of PDFs are rendered after its commit, not inside its
        transaction. ``telecom_sent_to`` is read under the invoices' lock:
        a task run twice sends nothing the second time."""
        cls.lock(invoices)
        to_send = []
        for invoice in cls.browse([i.id for i in invoices]):
            if (invoice.type != 'out' or invoice.telecom_sent_to
                    or invoice.state not in {'posted', 'paid'}):
                continue
            try:
                invoice.telecom_recipient()
                ubl.check_schema(invoice, invoice.telecom_ubl()[1])
            except DocumentError as error:
                logger.info("%s not e-mailed: %s",
                    invoice.rec_name, error.message)
                continue
            to_send.append(invoice)
        for invoice, pdf in zip(to_send, InvoiceDocument.pdfs(to_send)):
            invoice.telecom_send(pdf)

    def telecom_send(self, pdf=None):
        """E-mail the posted invoice with its PDF (``pdf``, else rendered
        now) and UBL XML attached"""
        Attachment = Pool().get('ir.attachment')
        party, address = self.telecom_recipient()
        look = self.telecom_look()
        xml = self.telecom_ubl()
        # Never e-mail a document the buyer's system would reject.
        ubl.check_schema(self, xml[1])
        files = [pdf or InvoiceDocument.pdf(self), xml]

        msg = EmailMessage()
        msg.set_content(self._telecom_email_body(look, party))
        for name, data in files:
            maintype, subtype = (('application', 'pdf')
                if name.endswith('.pdf') else ('application', 'xml'))
            msg.add_attachment(
                data, maintype=maintype, subtype=subtype, filename=name)
        self.telecom_mail(msg, look, party, address, gettext(
                'telecom_billing.msg_invoice_email_subject',
                brand=look.name, number=self.number))
        # The documents as sent, for the customer to download again.
        Attachment.save([Attachment(resource=self, name=name, data=data)
                for name, data in files])
        self.telecom_sent_to = address
        self.save()

    def telecom_mail(self, msg, look, party, address, subject, send=None):
        """Send ``msg`` about the invoice to ``party`` at ``address`` from
        the sender of its brand (``look``) when the transaction commits —
        or with ``send(msg)``, e.g. at once — and log it on the invoice"""
        Email = Pool().get('ir.email')
        from_ = config.get('email', 'from')
        set_from_header(msg, from_, look.email_from or from_)
        msg['To'] = format_address(address, party.rec_name)
        msg['Subject'] = subject
        if send is None:
            send_message_transactional(msg, strict=True)
        else:
            send(msg)
        Email.from_message(msg, resource=self).save()

    def _telecom_email_body(self, look, party):
        lang = Pool().get('ir.lang').get(self.party_lang)
        forward = party != self.party
        return gettext(
            'telecom_billing.msg_invoice_email_forward' if forward
            else 'telecom_billing.msg_invoice_email_body',
            customer=self.party.rec_name, number=self.number,
            total=Report.format_currency(
                self.total_amount, lang, self.currency),
            brand=look.name, support=look.support or look.name)


class UBLInvoice(metaclass=PoolMeta):
    __name__ = 'edocument.ubl.invoice'

    @property
    def prepaid_amount(self):
        # edocument_ubl sums the balance of the lines to pay, which is the
        # whole total until the customer pays: the document would say
        # nothing is due. What was paid is the total less what remains.
        return self.invoice.total_amount - self.invoice.amount_to_pay

    @property
    def additional_documents(self):
        # The PDF goes beside the XML in the e-mail, not inside it: the
        # XML stays small enough for a browser to render with the XSLT.
        return iter(())


class Account(metaclass=PoolMeta):
    __name__ = 'telecom.account'
    itemised_annex = fields.Boolean(
        "Itemised Call Annex",
        help="The account's invoices list every call (its plans may ask "
        "for it too).")
    invoice_via_reseller = fields.Boolean(
        "Invoices via Reseller",
        help="E-mail the account's invoices to its reseller, who forwards "
        "them, instead of to the customer.")
    buyer_reference = fields.Char(
        "Buyer Reference",
        help="The reference the customer asks its invoices to quote (a "
        "purchase order, a cost centre): the buyer reference (BT-10) of its "
        "e-invoices; without one, the account's number is quoted.")

    @classmethod
    def default_itemised_annex(cls):
        return False

    @classmethod
    def default_invoice_via_reseller(cls):
        return False


class DownloadInvoicesStart(ModelView):
    "Download Invoices"
    __name__ = 'telecom.invoice.download.start'
    format = fields.Selection([
            ('zip', "One ZIP file of PDFs"),
            ('pdf', "One PDF of all invoices"),
            ], "Format", required=True)

    @classmethod
    def default_format(cls):
        return 'zip'


class DownloadInvoicesResult(ModelView):
    "Download Invoices"
    __name__ = 'telecom.invoice.download.result'
    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)


class DownloadInvoices(Wizard):
    "Download the PDFs of the selected invoices as one file"
    __name__ = 'telecom.invoice.download'
    start = StateView('telecom.invoice.download.start',
        'telecom_billing.invoice_download_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Download", 'download', 'tryton-ok', default=True),
            ])
    download = StateTransition()
    result = StateView('telecom.invoice.download.result',
        'telecom_billing.invoice_download_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_download(self):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        ids = [r.id for r in self.records]
        # Read through the company rule: an id of another tenant's invoice
        # is refused, not silently rendered.
        invoices = Invoice.search([('id', 'in', ids)], order=[
                ('number', 'ASC'), ('id', 'ASC')])
        if len(invoices) != len(set(ids)) or not ids:
            raise AccessError(gettext(
                    'telecom_billing.msg_invoice_download_access'))
        stamp = dt.date.today().isoformat()
        if self.start.format == 'pdf':
            self.result.file = InvoiceDocument.merged_pdf(invoices)
            self.result.filename = f'invoices-{stamp}.pdf'
        else:
            content = io.BytesIO()
            with zipfile.ZipFile(content, 'w') as archive:
                for name, data in InvoiceDocument.pdfs(invoices):
                    archive.writestr(name, data)
            self.result.file = content.getvalue()
            self.result.filename = f'invoices-{stamp}.zip'
        return 'result'

    def default_result(self, fields):
        return {'file': self.result.file, 'filename': self.result.filename}
