"""Invoice documents a customer or reseller downloads (F30): the PDF of
telecom_billing's invoice report and the UBL 2.1 XML of edocument_ubl."""
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from trytond.pool import Pool
from trytond.tools import slugify


def _pdf_report():
    """The PDF report of invoices: telecom_billing's own (brand layout,
    WeasyPrint) when it declares one, else any PDF report of invoices."""
    ActionReport = Pool().get('ir.action.report')
    reports = ActionReport.search([
            ('model', '=', 'account.invoice'),
            ('extension', '=', 'pdf'),
            ], order=[('id', 'ASC')])
    reports.sort(key=lambda r: r.module != 'telecom_billing')
    return reports[0] if reports else None


def invoice_pdf(invoice):
    pool = Pool()
    action = _pdf_report()
    if action is None:
        raise NotFound("The PDF of this invoice is not available.")
    Report = pool.get(action.report_name, type='report')
    ext, content, _, name = Report.execute(
        [invoice.id], {'action_id': action.id})
    return download(bytes(content), f'{slugify(invoice.rec_name)}.{ext}',
        'application/pdf')


def invoice_ubl(invoice):
    Ubl = Pool().get('edocument.ubl.invoice')
    document = Ubl(invoice)
    return download(document.render('2'), document.filename,
        'application/xml')


def download(content, filename, mimetype):
    response = Response(content, mimetype=mimetype)
    response.headers['Content-Disposition'] = (
        f'attachment; filename="{filename}"')
    return response
