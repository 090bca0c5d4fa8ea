"""Invoice documents a customer or reseller downloads (F30), as
telecom_billing makes them: the PDF in the customer's brand and layout
(``telecom.invoice.document``) and the UBL 2.1 XML (``telecom_ubl``)."""
from werkzeug.wrappers import Response

from trytond.pool import Pool


def invoice_pdf(invoice):
    Document = Pool().get('telecom.invoice.document', type='report')
    filename, content = Document.pdf(invoice)
    return download(content, filename, 'application/pdf')


def invoice_ubl(invoice):
    filename, content = invoice.telecom_ubl()
    return download(content, filename, 'application/xml')


def download(content, filename, mimetype):
    response = Response(content, mimetype=mimetype)
    response.headers['Content-Disposition'] = (
        f'attachment; filename="{filename}"')
    return response
