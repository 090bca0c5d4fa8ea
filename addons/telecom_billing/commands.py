"""Sub-commands of ``telecom`` owned by telecom_billing.

``export-invoices`` writes every posted customer invoice and credit note of
a database, one file each named by its number: the UBL 2.1 XML (Peppol BIS
Billing 3.0) or the PDF. Each XML is checked against the OASIS UBL 2.1
schema as it is written; one that fails is reported (and still written).
"""
import os
import sys

from trytond.modules.telecom_base.progress import Progress
from trytond.modules.telecom_rating.commands import _database_arguments, _run


def register(subparsers):
    parser = subparsers.add_parser(
        'export-invoices',
        help="write every posted invoice and credit note as UBL or PDF",
        description="Write every posted (or paid) customer invoice and "
        "credit note of the database into DIR, one file each named by its "
        "company and number: UBL 2.1 XML with the Peppol BIS Billing 3.0 "
        "customization (checked against the OASIS UBL 2.1 schema; exit "
        "code 1 when one fails) or the PDF the customer receives.")
    _database_arguments(parser)
    parser.add_argument('--format', choices=['ubl', 'pdf'], default='ubl',
        help="ubl (default) or pdf")
    parser.add_argument('-o', '--output', required=True, metavar='DIR',
        help="the folder to write into (made if missing)")
    parser.set_defaults(func=export_invoices)


def export_invoices(args):
    "Run ``telecom export-invoices``; return the exit code."
    invalid = []

    def work(pool):
        from trytond.tools import slugify

        from .ubl import xsd_errors
        Invoice = pool.get('account.invoice')
        Document = pool.get('telecom.invoice.document', type='report')
        os.makedirs(args.output, exist_ok=True)
        invoices = Invoice.search([
                ('type', '=', 'out'), ('state', 'in', ['posted', 'paid'])],
            order=[('number', 'ASC'), ('id', 'ASC')])
        kinds = {'invoice': 0, 'credit_note': 0}
        with Progress(len(invoices), sys.stderr, unit='documents') as bar:
            for done, invoice in enumerate(invoices, 1):
                # Numbers are per company: two tenants both have a "1".
                name = slugify(
                    f'{invoice.company.rec_name}-{invoice.number}')
                if args.format == 'ubl':
                    _, data = invoice.telecom_ubl()
                    errors = xsd_errors(data)
                    if errors:
                        invalid.append(invoice.number)
                        print(f"{invoice.number}: not valid UBL 2.1: "
                            + '; '.join(errors[:3]), file=sys.stderr)
                    name += '.xml'
                else:
                    _, data = Document.pdf(invoice)
                    name += '.pdf'
                with open(os.path.join(args.output, name), 'wb') as file:
                    file.write(data)
                kinds[invoice.sequence_type] += 1
                bar.update(done)
        print(f"exported {len(invoices)} documents ({kinds['invoice']} "
            f"invoices, {kinds['credit_note']} credit notes) as "
            f"{args.format} to {args.output}"
            + (f"; {len(invalid)} not valid UBL 2.1" if invalid else ''),
            file=sys.stderr)
    code = _run(args, work)
    return code or (1 if invalid else 0)
