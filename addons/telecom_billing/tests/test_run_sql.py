"""The billing run writes its invoices in bulk SQL: the proof that they are
what Tryton's ORM writes.

The same month of Reseller One is billed twice: once through Tryton's own
``Invoice.create`` (lines created with their invoice) and ``update_taxes``
— the reference, ``orm_create_invoices`` below — then, the reference run
cancelled, with the run's SQL path. The invoices are compared field by
field (every stored field of the invoices, their lines, the lines' taxes
and the invoice taxes, and the amounts Tryton computes), ``update_taxes``
must find nothing to change on the SQL-written invoices, and they post to
the totals worked out by hand, with the taxes rounded per document and per
line."""
import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from trytond.modules.company.tests import set_company
from trytond.modules.telecom_base.tests.tools import (
    create_customer, create_tenancy)
from trytond.modules.telecom_billing.tests.database import BillingTestCase
from trytond.modules.telecom_billing.tests.tools import create_taxed_books
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

D = dt.date
JANUARY = (D(2024, 1, 1), D(2024, 1, 31))
# What only says when and by whom a row was written, or which run did.
BOOKKEEPING = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date',
    'telecom_run', 'invoice'}


def orm_create_invoices(run, ctx, accounts, usage):
    """The reference: the run's invoices saved as Tryton saves invoices,
    each created with its lines (taxes included), then update_taxes."""
    pool = Pool()
    Invoice = pool.get('account.invoice')
    lines = run._invoice_lines(ctx, accounts, usage)
    invoiced = [a for a in accounts if lines.get(a)]
    invoices = Invoice.create([{
                **run._invoice_values(ctx, account),
                'lines': [('create', lines[account])],
                } for account in invoiced])
    Invoice.update_taxes(invoices)
    return [i.id for i in invoices]


def stored(Model, extra=()):
    "The names of ``Model``'s stored fields, what a row holds"
    return sorted(name for name, field in Model._fields.items()
        if not hasattr(field, 'set') and name not in BOOKKEEPING) + list(
        extra)


def snapshot(invoices):
    """{telecom account: (invoice fields, [line fields], [tax fields])}:
    everything stored of ``invoices`` and the amounts Tryton computes"""
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Line = pool.get('account.invoice.line')
    Tax = pool.get('account.invoice.tax')
    result = {}
    for invoice in Invoice.browse(invoices):
        values, = Invoice.read([invoice.id], stored(Invoice, [
                    'untaxed_amount', 'tax_amount', 'total_amount']))
        lines = Line.read([l.id for l in invoice.lines],
            stored(Line, ['taxes', 'amount']))
        for line in lines:
            line['taxes'] = sorted(line['taxes'])
        taxes = Tax.read([t.id for t in invoice.taxes], stored(Tax))
        for row in [values] + lines + taxes:
            del row['id']

        def key(row):
            return sorted((k, str(v)) for k, v in row.items())
        result[invoice.telecom_account.id] = (
            values, sorted(lines, key=key), sorted(taxes, key=key))
    return result


class RunSQLTestCase(BillingTestCase):
    "Test the billing run's bulk SQL against Tryton's ORM"

    def setUp_month(self, rounding):
        """Reseller One's books (VAT 20 %, a fixed 0.50 fee, tax rounding
        ``rounding``), products, prices and January's rated calls of two
        customers; return (t, customer B)."""
        pool = Pool()
        AccountConfiguration = pool.get('account.configuration')
        Feature = pool.get('telecom.feature')
        FeaturePrice = pool.get('telecom.feature.price')
        TelecomAccount = pool.get('telecom.account')
        Line = pool.get('telecom.line')
        Charge = pool.get('telecom.account.charge')
        Address = pool.get('party.address')
        Cdr = pool.get('telecom.cdr')

        t = create_rating(create_tenancy())
        b = create_customer("Customer B", t.r1)
        Address.create([{'party': a.party.id, 'city': "London"}
                for a in [t.r1_customer, b]])
        books = create_taxed_books(
            t.r1, today=JANUARY[0], fiscal_year=True)
        t.vat, t.service = books.vat, books.service
        with set_company(t.r1):
            AccountConfiguration.write([AccountConfiguration(1)], {
                    'tax_rounding': rounding})
            lines, = Feature.search([('code', '=', 'lines')])
            FeaturePrice.create([{
                        'feature': lines.id, 'plan': t.r1_plan.id,
                        'included': 1, 'price': Decimal('4.95'),
                        'currency': t.currency.id}])
            Line.create([{'account': t.r1_customer.id, 'name': name,
                        'start_date': start}
                    for name, start in [("Line 1", D(2023, 1, 1)),
                        ("Line 2", D(2023, 1, 1)),
                        ("Line 3", D(2024, 1, 12))]])
            Charge.create([{
                        'account': t.r1_customer.id,
                        'product': t.service.id, 'description': "Service",
                        'amount': Decimal('10.00'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}, {
                        'account': t.r1_customer.id,
                        'product': t.service.id,
                        'description': "Voicemail",
                        'amount': Decimal('0.33'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}, {
                        'account': b.id, 'product': t.service.id,
                        'description': "Seats", 'quantity': 2,
                        'amount': Decimal('10.00'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}])
            # Customer B is exempt from VAT.
            TelecomAccount.write([b], {
                    'rate_plans': [('add', [t.r1_plan.id])],
                    'tax_exemptions': [('add', [t.vat.id])]})
        start = dt.datetime(2024, 1, 10, 9)
        Cdr.ingest([
                # UK: 0.02 a minute for the owner, 10 % more for R1's
                # customers: 10 min → 0.22, 5 min → 0.11.
                cdr(t.r1_customer, 'u1', '442079460001', start, 600),
                cdr(t.r1_customer, 'u2', '442079460002',
                    start + dt.timedelta(days=1), 300),
                ])
        self.assertEqual(Cdr.rate_unrated(), (2, 0))
        return t, b

    def bill_twice(self, rounding):
        """Bill January through the ORM reference, cancel, bill it with
        the SQL path; return (t, b, ORM snapshot, SQL invoices)."""
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        t, b = self.setUp_month(rounding)

        def credit(run, ctx, accounts):
            # A credit line (another module's, through the hook): its
            # negative base is taxed apart, on the credit-note side.
            return {a: [run._line(ctx, a, t.service, 'charge', 1,
                        Decimal('-3.00'), "Goodwill credit", JANUARY)]
                for a in accounts if a == t.r1_customer}

        with patch.object(Run, '_extra_lines', credit):
            with patch.object(Run, '_create_invoices', orm_create_invoices):
                reference = Run.bill(t.r1, *JANUARY)
            expected = snapshot(reference.invoices)
            Run.cancel([reference])
            run = Run.bill(t.r1, *JANUARY)
        self.assertEqual(run.calls, reference.calls)
        return t, b, expected, list(run.invoices)

    def assert_same_invoices(self, expected, invoices):
        found = snapshot(invoices)
        self.assertEqual(found.keys(), expected.keys())
        for account, (values, lines, taxes) in expected.items():
            with self.subTest(account=account):
                self.assertEqual(found[account][0], values)
                self.assertEqual(len(found[account][1]), len(lines))
                for line, expected_line in zip(found[account][1], lines):
                    self.assertEqual(line, expected_line)
                self.assertEqual(found[account][2], taxes)

    def check_month(self, rounding, r1_taxes, r1_total):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        t, b, expected, invoices = self.bill_twice(rounding)
        self.assertEqual(len(invoices), 2)
        self.assert_same_invoices(expected, invoices)

        # Tryton finds the taxes right: nothing to create, delete or
        # change (exception=True raises otherwise), nothing changed.
        Invoice.update_taxes(invoices, exception=True)
        Invoice.update_taxes(invoices)
        self.assert_same_invoices(expected, invoices)

        # Customer B's exemption is meant: Tryton's warning that its line
        # lacks the product's default taxes is acknowledged.
        with Transaction().set_context(_skip_warnings=True):
            Invoice.post(invoices)
        r1_invoice, = [i for i in invoices
            if i.telecom_account == t.r1_customer]
        b_invoice, = [i for i in invoices if i.telecom_account == b]
        # R1 Customer: extra lines 4.95 (Line 2, all month) + 3.19 (Line 3
        # from the 12th: 4.95 × 20 ÷ 31 = 3.1935…) + Service 10.00 +
        # Voicemail 0.33 + calls 0.22 + 0.11 = 0.33 − credit 3.00 = 15.80.
        self.assertEqual(r1_invoice.untaxed_amount, Decimal('15.80'))
        self.assertEqual(
            sorted((t_.tax.name, t_.base, t_.amount)
                for t_ in r1_invoice.taxes), r1_taxes)
        self.assertEqual(r1_invoice.tax_amount, sum(
                amount for _, _, amount in r1_taxes))
        self.assertEqual(r1_invoice.total_amount, r1_total)
        # Customer B: 2 seats × 10.00, exempt from VAT: 20.00, no tax.
        self.assertEqual(b_invoice.untaxed_amount, Decimal('20.00'))
        self.assertEqual(b_invoice.taxes, ())
        self.assertEqual(b_invoice.total_amount, Decimal('20.00'))
        self.assertEqual(b_invoice.state, 'posted')
        self.assertEqual(
            sum(l.debit - l.credit for l in r1_invoice.move.lines), 0)
        self.assertEqual(r1_invoice.amount_to_pay, r1_total)

    @with_transaction()
    def test_document_rounding(self):
        "SQL invoices equal the ORM's; taxes rounded per document"
        # Per taxes group, rounded once: VAT on the lines with the fee
        # 20 % × (4.95 + 3.19) = 1.628 → 1.63, on Service, Voicemail and
        # calls 20 % × (10.00 + 0.33 + 0.33) = 2.132 → 2.13: VAT 3.76 on
        # a base of 18.80; the fee 2 × 0.50 = 1.00 on 4.95 + 3.19 = 8.14;
        # the credit's VAT apart: 20 % × −3.00 = −0.60.
        # Total: 15.80 + 3.76 + 1.00 − 0.60 = 19.96.
        self.check_month('document', [
                ("20% VAT", Decimal('-3.00'), Decimal('-0.60')),
                ("20% VAT", Decimal('18.80'), Decimal('3.76')),
                ("Line fee", Decimal('8.14'), Decimal('1.00')),
                ], Decimal('19.96'))

    @with_transaction()
    def test_line_rounding(self):
        "SQL invoices equal the ORM's; taxes rounded per line"
        # Each line's VAT rounded: 0.99 + 0.64 (0.638) + 2.00 + 0.07
        # (0.066) + 0.07 (0.066) = 3.77; the fee 1.00; the credit −0.60.
        # Total: 15.80 + 3.77 + 1.00 − 0.60 = 19.97.
        self.check_month('line', [
                ("20% VAT", Decimal('-3.00'), Decimal('-0.60')),
                ("20% VAT", Decimal('18.80'), Decimal('3.77')),
                ("Line fee", Decimal('8.14'), Decimal('1.00')),
                ], Decimal('19.97'))

    @with_transaction()
    def test_owed_for_credit_limits(self):
        """What call control counts against a postpaid credit limit
        (telecom_switch, ``owed_sql``): the rated calls not on a posted
        invoice, then the posted invoice until paid"""
        from trytond import backend
        from trytond.modules.telecom_switch.api.store import (
            owed_sql, to_decimal)
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        Invoice = pool.get('account.invoice')
        t, b = self.setUp_month('document')
        query = owed_sql(True)
        if backend.name == 'postgresql':
            query = query.replace('?', '%s')
        cursor = Transaction().connection.cursor()

        def owed(account):
            cursor.execute(query, (account.id,) * query.count(
                    '%s' if backend.name == 'postgresql' else '?'))
            return sum((to_decimal(r[0]) for r in cursor), Decimal(0))
        # Calls 0.22 + 0.11 rated, not invoiced; B made none.
        self.assertEqual(
            (owed(t.r1_customer), owed(b)), (Decimal('0.33'), 0))
        run = Run.bill(t.r1, *JANUARY)
        # Claimed by a draft: still owed as calls, not twice.
        self.assertEqual(
            (owed(t.r1_customer), owed(b)), (Decimal('0.33'), 0))
        with Transaction().set_context(_skip_warnings=True):
            Invoice.post(list(run.invoices))
        # Posted: the invoices' totals. R1 Customer 18.80 (4.95 + 3.19 +
        # 10.00 + 0.33 + calls 0.33) + VAT 3.76 + fee 1.00 = 23.56 (as
        # test_document_rounding without its credit); B 20.00, no tax.
        self.assertEqual((owed(t.r1_customer), owed(b)),
            (Decimal('23.56'), Decimal('20.00')))
