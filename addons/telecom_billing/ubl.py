"""EN 16931 invoices in UBL 2.1 with the Peppol BIS Billing 3.0
customization (F30): what is sent, and what an invoice needs before it can
be sent.

edocument_ubl's ``peppol-bis-3`` templates are not used to write the
document: whatever the data, their CreditNote has a header ``DueDate`` that
UBL 2.1's CreditNote does not have; an invoice without taxes gets no
``TaxTotal`` and lines without ``ClassifiedTaxCategory``; a line with two
taxes gets two; a tax without UNECE code gives a ``TaxCategory`` without
``TaxScheme``; and the endpoint and VAT numbers are written as entered
(``gb980 7806 84``). The document is built here, element by element in the
schema's order, from the same ``edocument.ubl.invoice`` object (its
parties, addresses and type code are used as they are)."""
import re
from collections import namedtuple
from decimal import Decimal
from pathlib import Path

from lxml import etree

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.tools import cached_property
from trytond.transaction import Transaction

from .exceptions import DocumentError

CUSTOMIZATION = ('urn:cen.eu:en16931:2017#compliant'
    '#urn:fdc:peppol.eu:2017:poacc:billing:3.0')
PROFILE = 'urn:fdc:peppol.eu:2017:poacc:billing:01:1.0'
SPECIFICATION = 'peppol-bis-3'
NS = {
    'Invoice': 'urn:oasis:names:specification:ubl:schema:xsd:Invoice-2',
    'CreditNote': (
        'urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2'),
    'cac': ('urn:oasis:names:specification:ubl:schema:xsd:'
        'CommonAggregateComponents-2'),
    'cbc': ('urn:oasis:names:specification:ubl:schema:xsd:'
        'CommonBasicComponents-2'),
    }
# The OASIS UBL 2.1 runtime schemas (xsdrt), shipped with the module: the
# XML is validated against them before it is e-mailed.
XSD_DIR = Path(__file__).parent / 'ubl' / 'xsd'
XSD = {
    'Invoice': XSD_DIR / 'maindoc' / 'UBL-Invoice-2.1.xsd',
    'CreditNote': XSD_DIR / 'maindoc' / 'UBL-CreditNote-2.1.xsd',
    }
# The exemption reason written when a line has no VAT at all (the account
# is exempt from it, F29): EN 16931 wants a category on every line.
EXEMPT_REASON = "Exempt from VAT"
# Categories whose breakdown states why no VAT is charged (BR-E-10,
# BR-O-10, BR-G-10, BR-IC-10, BR-AE-10); Z and S must not (BR-Z-10,
# BR-S-10).
REASON_CATEGORIES = {'E', 'O', 'G', 'K', 'AE'}

Category = namedtuple('Category', 'code rate reason')
_schemas = {}


def schema(root_name):
    "The compiled OASIS UBL 2.1 schema of an Invoice or a CreditNote"
    if root_name not in _schemas:
        _schemas[root_name] = etree.XMLSchema(etree.parse(
                str(XSD[root_name])))
    return _schemas[root_name]


def xsd_errors(xml):
    "The OASIS UBL 2.1 schema errors of ``xml`` (bytes), as text lines"
    root = etree.fromstring(xml)
    name = etree.QName(root).localname
    if name not in XSD:
        return [f"{name} is not a UBL Invoice or CreditNote"]
    validator = schema(name)
    if validator.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in validator.error_log]


def check_schema(invoice, xml):
    "Refuse the UBL ``xml`` of ``invoice`` if it is not valid UBL 2.1"
    errors = xsd_errors(xml)
    if errors:
        raise DocumentError(gettext(
                'telecom_billing.msg_einvoice_invalid',
                invoice=invoice.rec_name, errors='; '.join(errors[:5])))


def vat_number(identifier):
    """The VAT number of a party identifier as EN 16931 writes it: the
    country prefix and the compact number (``GB980780684``), or None for
    an identifier that is not a VAT number"""
    if not identifier or not identifier.type:
        return None
    compact = re.sub(r'[\s.\-/]', '', identifier.code_compact
        or identifier.code or '').upper()
    if identifier.type == 'eu_vat':
        return compact
    country, _, kind = identifier.type.partition('_')
    if kind != 'vat' or not compact:
        return None
    prefix = 'EL' if country == 'gr' else country.upper()
    if compact.startswith(prefix):
        return compact
    return prefix + compact


def line_category(line):
    """The VAT category of an invoice line: its VAT tax's, or exempt when
    the line has none (an exempt account)"""
    vat = [t for t in line.taxes if is_vat(t)]
    if not vat:
        return Category('E', Decimal(0), EXEMPT_REASON)
    return tax_category(vat[0])


def tax_category(tax):
    "The VAT category, rate and exemption reason of the VAT ``tax``"
    rate = (tax.rate or Decimal(0)) if tax.type == 'percentage' else None
    code = tax.unece_category_code or ('S' if rate else 'Z')
    if code == 'O':
        # BR-O-05: no rate for what is not subject to VAT.
        rate = None
    reason = None
    if code in REASON_CATEGORIES:
        reason = tax.legal_notice or tax.description or tax.name
    return Category(code, rate, reason)


def is_vat(tax):
    "Whether ``tax`` is a VAT (a tax without UNECE code is taken as one)"
    return tax.unece_code in {None, 'VAT'}


def percent(rate):
    return format((rate * 100).normalize(), 'f')


def missing(invoice):
    """What ``invoice`` lacks to be sent as an EN 16931 / Peppol BIS 3.0
    e-invoice, as texts naming the party or tax (empty: nothing)"""
    result = []
    categories = set()
    for line in invoice.lines:
        if line.type != 'line':
            continue
        vat = []
        for tax in line.taxes:
            if not is_vat(tax):
                result.append(gettext('telecom_billing.msg_einvoice_not_vat',
                        tax=tax.rec_name))
            elif not tax.unece_code or not tax.unece_category_code:
                result.append(gettext(
                        'telecom_billing.msg_einvoice_tax_code',
                        tax=tax.rec_name))
            else:
                vat.append(tax)
        if len(vat) > 1:
            result.append(gettext('telecom_billing.msg_einvoice_two_vat',
                    line=line.rec_name))
        categories.add(line_category(line).code)

    seller = invoice.company.party
    buyer = invoice.party
    for role, party, address in [
            ('seller', seller, seller.address_get('invoice')),
            ('buyer', buyer, invoice.invoice_address)]:
        name = dict(role=gettext(f'telecom_billing.msg_role_{role}'),
            party=party.rec_name)
        if not (address and address.street and address.city
                and address.country):
            result.append(gettext(
                    'telecom_billing.msg_einvoice_no_address', **name))
        if not UBLInvoice.endpoint(party):
            result.append(gettext(
                    'telecom_billing.msg_einvoice_no_endpoint', **name))
    name = dict(role=gettext('telecom_billing.msg_role_seller'),
        party=seller.rec_name)
    if 'O' in categories:
        # BR-O-02 leaves the VAT number out: BR-CO-26 then wants the
        # seller's registration.
        if not UBLInvoice.registration(seller):
            result.append(gettext(
                    'telecom_billing.msg_einvoice_no_registration', **name))
    elif not vat_number(
            invoice.tax_identifier or invoice.get_tax_identifier()):
        # (A draft has no tax identifier yet: posting sets it.)
        # BR-S-02, BR-Z-02, BR-E-02: the seller's VAT number.
        result.append(gettext('telecom_billing.msg_einvoice_no_vat', **name))
    if categories & {'K', 'AE'} and not (
            vat_number(invoice.party_tax_identifier)
            or vat_number(buyer.tax_identifier)):
        # BR-IC-02, BR-AE-02: the buyer's VAT number.
        result.append(gettext('telecom_billing.msg_einvoice_no_vat',
                role=gettext('telecom_billing.msg_role_buyer'),
                party=buyer.rec_name))
    return list(dict.fromkeys(result))


class UBLInvoice(metaclass=PoolMeta):
    __name__ = 'edocument.ubl.invoice'

    def render(self, template, specification=None):
        if specification == SPECIFICATION:
            if self.invoice.state not in {'posted', 'paid'}:
                raise ValueError("Invoice must be posted")
            return etree.tostring(
                self.peppol_tree(), xml_declaration=True, encoding='UTF-8',
                pretty_print=True)
        return super().render(template, specification=specification)

    @property
    def is_credit_note(self):
        return self.invoice.sequence_type == 'credit_note'

    @property
    def sign(self):
        # A Tryton credit note has negative lines; a UBL CreditNote
        # states what is credited as positive amounts.
        return -1 if self.is_credit_note else 1

    def peppol_tree(self):
        "The UBL 2.1 Invoice or CreditNote, Peppol BIS Billing 3.0"
        invoice = self.invoice
        name = 'CreditNote' if self.is_credit_note else 'Invoice'
        root = etree.Element(
            f'{{{NS[name]}}}{name}',
            nsmap={None: NS[name], 'cac': NS['cac'], 'cbc': NS['cbc']})
        build = Builder(root, invoice.currency)
        cbc, cac = build.cbc, build.cac

        cbc(root, 'CustomizationID', CUSTOMIZATION)
        cbc(root, 'ProfileID', PROFILE)
        cbc(root, 'ID', invoice.number)
        cbc(root, 'IssueDate', invoice.invoice_date.isoformat())
        due_date = self.due_date
        if name == 'Invoice':
            if due_date:
                cbc(root, 'DueDate', due_date.isoformat())
            cbc(root, 'InvoiceTypeCode', self.type_code)
        else:
            cbc(root, 'CreditNoteTypeCode', self.type_code)
        cbc(root, 'DocumentCurrencyCode', invoice.currency.code)
        tax_currency = None
        if invoice.currency != invoice.company.currency:
            tax_currency = invoice.company.currency
            cbc(root, 'TaxCurrencyCode', tax_currency.code)
        cbc(root, 'BuyerReference', self.buyer_reference)
        period = self.invoice_period
        if period:
            element = cac(root, 'InvoicePeriod')
            cbc(element, 'StartDate', period[0].isoformat())
            cbc(element, 'EndDate', period[1].isoformat())
        for origin in self.credited_invoices:
            reference = cac(cac(root, 'BillingReference'),
                'InvoiceDocumentReference')
            cbc(reference, 'ID', origin.number)
            if origin.invoice_date:
                cbc(reference, 'IssueDate', origin.invoice_date.isoformat())

        self._party(build, cac(root, 'AccountingSupplierParty'),
            self.accounting_supplier_party,
            self.accounting_supplier_address,
            self.seller_vat_number, seller=True)
        self._party(build, cac(root, 'AccountingCustomerParty'),
            self.accounting_customer_party,
            self.accounting_customer_address,
            self.buyer_vat_number, seller=False)

        for code, iban in self.payee_accounts:
            means = cac(root, 'PaymentMeans')
            cbc(means, 'PaymentMeansCode', code)
            cbc(means, 'PaymentID', invoice.number)
            cbc(cac(means, 'PayeeFinancialAccount'), 'ID', iban)
        terms = self.payment_terms_note
        if terms:
            cbc(cac(root, 'PaymentTerms'), 'Note', terms)

        breakdown = self.vat_breakdown
        total = cac(root, 'TaxTotal')
        build.amount(total, 'TaxAmount', sum(
                (b.amount for b in breakdown), Decimal(0)))
        for row in breakdown:
            subtotal = cac(total, 'TaxSubtotal')
            build.amount(subtotal, 'TaxableAmount', row.base)
            build.amount(subtotal, 'TaxAmount', row.amount)
            self._category(build, cac(subtotal, 'TaxCategory'),
                row.category, reason=True)
        if tax_currency:
            # BT-111: the VAT in the company's (accounting) currency, as
            # the invoice's move books it.
            total = cac(root, 'TaxTotal')
            build.amount(total, 'TaxAmount', self.vat_in_company_currency,
                currency=tax_currency)

        untaxed = self.sign * invoice.untaxed_amount
        tax = self.sign * invoice.tax_amount
        total_amount = self.sign * invoice.total_amount
        prepaid = self.sign * (invoice.total_amount - self.amount_to_pay)
        totals = cac(root, 'LegalMonetaryTotal')
        build.amount(totals, 'LineExtensionAmount', sum(
                (line.amount for line in self.ubl_lines), Decimal(0)))
        build.amount(totals, 'TaxExclusiveAmount', untaxed)
        build.amount(totals, 'TaxInclusiveAmount', untaxed + tax)
        if prepaid:
            build.amount(totals, 'PrepaidAmount', prepaid)
        if total_amount != untaxed + tax:
            build.amount(totals, 'PayableRoundingAmount',
                total_amount - untaxed - tax)
        build.amount(totals, 'PayableAmount', total_amount - prepaid)

        for number, line in enumerate(self.ubl_lines, 1):
            element = cac(root, f'{name}Line')
            cbc(element, 'ID', str(number))
            quantity = cbc(element,
                'InvoicedQuantity' if name == 'Invoice'
                else 'CreditedQuantity',
                format(line.quantity.normalize(), 'f'))
            quantity.set('unitCode', line.unit)
            build.amount(element, 'LineExtensionAmount', line.amount)
            if line.period:
                period = cac(element, 'InvoicePeriod')
                cbc(period, 'StartDate', line.period[0].isoformat())
                cbc(period, 'EndDate', line.period[1].isoformat())
            item = cac(element, 'Item')
            if line.description and line.description != line.name:
                cbc(item, 'Description', line.description)
            cbc(item, 'Name', line.name)
            self._category(build, cac(item, 'ClassifiedTaxCategory'),
                line.category, reason=False)
            price = cac(element, 'Price')
            cbc(price, 'PriceAmount', format(
                    line.price.normalize(), 'f'),
                currencyID=invoice.currency.code)
        build.prune()
        return root

    def _party(self, build, parent, party, address, vat, seller):
        cbc, cac = build.cbc, build.cac
        element = cac(parent, 'Party')
        endpoint = self.endpoint(party)
        if endpoint:
            scheme, value = endpoint
            cbc(element, 'EndpointID', value, schemeID=scheme)
        if seller and not vat:
            registration = self.registration(party)
            if registration:
                cbc(cac(element, 'PartyIdentification'), 'ID',
                    registration)
        if address:
            postal = cac(element, 'PostalAddress')
            streets = (address.street or '').splitlines()
            cbc(postal, 'StreetName', streets[0] if streets else None)
            cbc(postal, 'AdditionalStreetName',
                ', '.join(streets[1:]) or None)
            cbc(postal, 'CityName', address.city)
            cbc(postal, 'PostalZone', address.postal_code)
            cbc(postal, 'CountrySubentity',
                address.subdivision.name if address.subdivision else None)
            if address.country:
                cbc(cac(postal, 'Country'), 'IdentificationCode',
                    address.country.code)
        if vat:
            scheme = cac(element, 'PartyTaxScheme')
            cbc(scheme, 'CompanyID', vat)
            cbc(cac(scheme, 'TaxScheme'), 'ID', 'VAT')
        legal = cac(element, 'PartyLegalEntity')
        cbc(legal, 'RegistrationName', party.name)
        registration = self.registration(party)
        if registration:
            cbc(legal, 'CompanyID', registration)

    def _category(self, build, element, category, reason):
        cbc, cac = build.cbc, build.cac
        cbc(element, 'ID', category.code)
        if category.rate is not None:
            cbc(element, 'Percent', percent(category.rate))
        if reason and category.reason:
            cbc(element, 'TaxExemptionReason', category.reason)
        cbc(cac(element, 'TaxScheme'), 'ID', 'VAT')

    @staticmethod
    def endpoint(party):
        """(scheme, identifier) of the party's electronic address: its
        Peppol participant id, else its e-mail for invoices (EAS ``EM``)"""
        if getattr(party, 'peppol_id', None):
            scheme, _, value = party.peppol_id.partition(':')
            return scheme, value
        mechanism = party.contact_mechanism_get('email', usage='invoice')
        if mechanism and mechanism.email:
            return 'EM', mechanism.email

    @staticmethod
    def registration(party):
        "The party's legal registration: its first identifier not a VAT"
        for identifier in party.identifiers:
            if identifier.code and not vat_number(identifier):
                return identifier.code_compact or identifier.code

    @property
    def has_vat_numbers(self):
        # BR-O-02: an invoice with a line not subject to VAT names no VAT
        # number, neither the seller's nor the buyer's.
        return all(line.category.code != 'O' for line in self.ubl_lines)

    @property
    def seller_vat_number(self):
        if self.has_vat_numbers:
            return vat_number(self.accounting_supplier_tax_identifier)

    @property
    def buyer_vat_number(self):
        if self.has_vat_numbers:
            party = self.accounting_customer_party
            return (vat_number(self.accounting_customer_tax_identifier)
                or vat_number(party.tax_identifier))

    @property
    def due_date(self):
        dates = [l.maturity_date for l in self.invoice.lines_to_pay
            if l.maturity_date]
        return min(dates) if dates else None

    @property
    def amount_to_pay(self):
        # What remains to be paid (edocument_ubl counted the whole unpaid
        # total as prepaid).
        return self.invoice.amount_to_pay

    @property
    def buyer_reference(self):
        "BT-10: the buyer's reference of its account, else the account"
        account = self.invoice.telecom_account
        if account:
            return account.buyer_reference or account.rec_name
        return self.invoice.reference or self.invoice.party.rec_name

    @property
    def invoice_period(self):
        run = self.invoice.telecom_run
        if run:
            return run.start_date, run.end_date

    @property
    def credited_invoices(self):
        return [i for i in self.invoice.origin_invoices if i.number]

    @property
    def payee_accounts(self):
        "(payment means code, IBAN) of the company's bank accounts"
        result = []
        for mean in getattr(self.invoice, 'payment_means', None) or []:
            instrument = mean.instrument
            if instrument and instrument.__name__ == 'bank.account':
                iban = instrument.iban_compact if hasattr(
                    instrument, 'iban_compact') else None
                if iban:
                    # 58: SEPA credit transfer.
                    result.append(('58', iban))
        return result

    @property
    def payment_terms_note(self):
        invoice = self.invoice
        if self.amount_to_pay == 0 and invoice.total_amount:
            return gettext('telecom_billing.msg_ubl_paid')
        due_date = self.due_date
        if due_date:
            return gettext('telecom_billing.msg_ubl_due',
                date=due_date.isoformat())
        if invoice.payment_term and invoice.payment_term.description:
            return invoice.payment_term.description

    @cached_property
    def ubl_lines(self):
        return [UBLLine.of(line, self.sign)
            for line in self.invoice.lines if line.type == 'line']

    @property
    def vat_breakdown(self):
        """One row per VAT category and rate: the lines' net amounts, and
        the VAT the invoice charges for it (Tryton's invoice taxes, so
        rounded as the company's accounting says)"""
        rows = {}
        for line in self.ubl_lines:
            base, _ = rows.get(line.category, (Decimal(0), Decimal(0)))
            rows[line.category] = (base + line.amount, Decimal(0))
        for tax_line in self.invoice.taxes:
            if not tax_line.tax or not is_vat(tax_line.tax):
                continue
            category = tax_category(tax_line.tax)
            base, amount = rows.get(category, (Decimal(0), Decimal(0)))
            rows[category] = (base, amount + self.sign * tax_line.amount)
        return [VatRow(category, base, amount)
            for category, (base, amount) in sorted(
                rows.items(), key=lambda r: (r[0].code, r[0].rate or 0))]

    @property
    def vat_in_company_currency(self):
        pool = Pool()
        Currency = pool.get('currency.currency')
        invoice = self.invoice
        total = Decimal(0)
        with Transaction().set_context(date=invoice.currency_date):
            for tax_line in invoice.taxes:
                total += Currency.compute(invoice.currency, tax_line.amount,
                    invoice.company.currency)
        return self.sign * total


VatRow = namedtuple('VatRow', 'category base amount')


class UBLLine(namedtuple('UBLLine', [
            'name', 'description', 'quantity', 'unit', 'amount', 'price',
            'period', 'category'])):
    "An invoice line as the document states it"

    @classmethod
    def of(cls, line, sign):
        unit_price = line.unit_price or Decimal(0)
        # BR-27: the item's price is never negative; a credit line says
        # so by its quantity.
        quantity = Decimal(str(line.quantity or 0)) * sign
        if unit_price < 0:
            quantity, unit_price = -quantity, -unit_price
        name = line.product.name if line.product else (
            (line.description or '').splitlines() or ['-'])[0]
        period = None
        if (getattr(line, 'telecom_period_start', None)
                and getattr(line, 'telecom_period_end', None)):
            period = (line.telecom_period_start, line.telecom_period_end)
        unit = (line.unit.unece_code if line.unit and line.unit.unece_code
            else 'C62')
        return cls(
            name=name, description=line.description, quantity=quantity,
            unit=unit, amount=sign * line.amount, price=unit_price,
            period=period, category=line_category(line))


class Builder:
    "Writes UBL elements, leaving out the empty ones (PEPPOL-EN16931-R008)"

    def __init__(self, root, currency):
        self.root = root
        self.currency = currency

    def cbc(self, parent, tag, text, **attrs):
        if text is None or text == '':
            return None
        element = etree.SubElement(parent, f'{{{NS["cbc"]}}}{tag}', attrs)
        element.text = str(text)
        return element

    def cac(self, parent, tag):
        return etree.SubElement(parent, f'{{{NS["cac"]}}}{tag}')

    def prune(self):
        "Remove the aggregates left empty (an address without details)"
        for element in reversed(list(self.root.iter(f'{{{NS["cac"]}}}*'))):
            if len(element) == 0:
                element.getparent().remove(element)

    def amount(self, parent, tag, value, currency=None):
        currency = currency or self.currency
        exp = Decimal(1).scaleb(-currency.digits)
        return self.cbc(parent, tag,
            format(Decimal(value).quantize(exp), 'f'),
            currencyID=currency.code)
