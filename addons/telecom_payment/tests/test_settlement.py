"""A prepaid account's monthly invoice, paid from its balance.

Reseller One's books: Tryton's test chart with its 20 % VAT, a fixed 0.50
"Line fee" on extra lines (telecom_billing's create_taxed_books) and the
prepaid accounts beside it. Its prepaid customer has two lines (one
included, the second at 4.95), a monthly support fee of 10.00 and calls
rated at R1's price (UK: 0.02 × 1.10 = 0.022 a minute). The January run
invoices it as a postpaid account, posts the invoice and pays it from the
balance: the usage was debited at rating, the rest now."""
import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.telecom_base.tests.tools import (
    DatabaseTestCase, create_customer, create_tenancy)
from trytond.modules.telecom_billing import document
from trytond.modules.telecom_billing.tests.tools import (
    create_fiscalyear, create_taxed_books)
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .tools import add_prepaid_books_to_chart, total

D = dt.date
JANUARY = (D(2024, 1, 1), D(2024, 1, 31))
FEBRUARY = (D(2024, 2, 1), D(2024, 2, 29))
TOMORROW = dt.date.today() + dt.timedelta(days=1)
SENDMAIL = 'trytond.modules.telecom_payment.balance.sendmail_transactional'


def run_queued(method):
    """Run the tasks of ``method`` this transaction queued, as trytond
    does after a commit when no worker runs the queue (the dispatcher, the
    cron, proteus; here inside the test's transaction, never committed);
    return how many"""
    Queue = Pool().get('ir.queue')
    tasks = Transaction().tasks
    queued = [i for i in tasks if Queue(i).data['method'] == method]
    for task_id in queued:
        tasks.remove(task_id)
        Queue(task_id).run()
    return len(queued)


class SettlementTestCase(DatabaseTestCase):
    "Test prepaid invoices settled from the balance"
    module = 'telecom_payment'

    def setUp_tenant(self, **settings):
        """Reseller One's books, its prepaid PBX customer (30.00 topped
        up, two lines, the support fee, January's two calls rated), an
        idle prepaid customer and a postpaid one with a charge; return
        the tenancy"""
        pool = Pool()
        Feature = pool.get('telecom.feature')
        FeaturePrice = pool.get('telecom.feature.price')
        TelecomAccount = pool.get('telecom.account')
        Line = pool.get('telecom.line')
        Charge = pool.get('telecom.account.charge')
        Address = pool.get('party.address')
        BalanceLine = pool.get('telecom.balance.line')
        Cdr = pool.get('telecom.cdr')

        t = create_rating(create_tenancy())
        t.books = create_taxed_books(t.r1, today=JANUARY[0])
        with set_company(t.r1):
            # This year's too: the ledger posts the day's movements today.
            create_fiscalyear(t.r1)
            t.prepaid = add_prepaid_books_to_chart(t.r1, **settings)
        t.customer = create_customer("Prepaid PBX", t.r1, flavour='pbx',
            billing_mode='prepaid')
        t.idle = create_customer("Idle Prepaid", t.r1,
            billing_mode='prepaid')
        Address.create([{'party': a.party.id, 'city': "London"}
                for a in [t.customer, t.idle, t.r1_customer]])
        with set_company(t.r1):
            lines, = Feature.search([('code', '=', 'lines')])
            FeaturePrice.create([{
                        'feature': lines.id, 'plan': t.r1_plan.id,
                        'included': 1, 'price': Decimal('4.95'),
                        'currency': t.currency.id}])
            Line.create([{'account': t.customer.id, 'name': name,
                        'start_date': D(2023, 1, 1)}
                    for name in ["Desk", "Surgery"]])
            Charge.create([{
                        'account': t.customer.id,
                        'product': t.books.service.id,
                        'description': "Support", 'amount': Decimal('10.00'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}, {
                        'account': t.r1_customer.id,
                        'product': t.books.service.id,
                        'description': "Seat", 'amount': Decimal('5.00'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}])
            TelecomAccount.write([t.customer, t.idle], {
                    'rate_plans': [('add', [t.r1_plan.id])]})
        BalanceLine.add_movements([{'account': t.customer.id,
                    'amount': Decimal('30'), 'kind': 'topup'}])
        start = dt.datetime(2024, 1, 10, 9)
        Cdr.ingest([
                # 10 min → 10 × 0.022 = 0.22, 5 min → 0.11
                cdr(t.customer, 'p1', '442079460001', start, 600),
                cdr(t.customer, 'p2', '442079460002',
                    start + dt.timedelta(days=1), 300),
                ])
        self.assertEqual(Cdr.rate_unrated(), (2, 0))
        # 30 − 0.33, debited at rating
        self.assertEqual(
            TelecomAccount(t.customer.id).balance, Decimal('29.67'))
        return t

    def add_supported_customer(self, t, name, **values):
        """A prepaid customer of Reseller One with an address and the
        monthly 10.00 support fee from January, no calls"""
        pool = Pool()
        Address = pool.get('party.address')
        Charge = pool.get('telecom.account.charge')
        customer = create_customer(name, t.r1, billing_mode='prepaid',
            **values)
        Address.create([{'party': customer.party.id, 'city': "Leeds"}])
        with set_company(t.r1):
            Charge.create([{
                        'account': customer.id,
                        'product': t.books.service.id,
                        'description': "Support",
                        'amount': Decimal('10.00'),
                        'currency': t.currency.id, 'recurrence': 'monthly',
                        'start_date': JANUARY[0]}])
        return customer

    def add_invoice_emails(self, emails):
        "The invoice e-mail of each (party, address)"
        ContactMechanism = Pool().get('party.contact_mechanism')
        ContactMechanism.create([{
                    'party': party.id, 'type': 'email', 'value': email,
                    'invoice': True} for party, email in emails])

    def invoice_of(self, run, account):
        invoices = [i for i in run.invoices if i.telecom_account == account]
        return invoices[0] if invoices else None

    @with_transaction()
    def test_invoice_paid_from_balance(self):
        "The month's invoice: to the cent, paid, the books balanced"
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        TelecomAccount = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = self.setUp_tenant()

        run = Run.bill(t.r1, *JANUARY)

        invoice = self.invoice_of(run, t.customer)
        self.assertEqual(invoice.state, 'paid')
        # Lines: 1 extra line 4.95, support 10.00, calls 0.33 = 15.28.
        # Taxes: extra line VAT 0.99 + fee 0.50; VAT on 10.00 + 0.33 =
        # 2.066 → 2.07 (rounded per document): 3.56. Total 18.84.
        self.assertEqual(invoice.untaxed_amount, Decimal('15.28'))
        self.assertEqual(invoice.tax_amount, Decimal('3.56'))
        self.assertEqual(invoice.total_amount, Decimal('18.84'))
        self.assertEqual(invoice.amount_to_pay, Decimal('0'))
        usage, = [l for l in invoice.lines if l.telecom_kind == 'usage']
        self.assertEqual(usage.amount, Decimal('0.33'))
        self.assertEqual(usage.account, t.prepaid['prepaid_usage_account'])
        # No usage, no charges: no invoice. The postpaid customer's is a
        # draft, as before: 5.00 + VAT 1.00.
        self.assertIsNone(self.invoice_of(run, t.idle))
        postpaid = self.invoice_of(run, t.r1_customer)
        self.assertEqual(
            (postpaid.state, postpaid.total_amount), ('draft', Decimal('6')))

        # The balance paid the rest once: 18.84 − 0.33 = 18.51 (4.95 +
        # 10.00 + 3.56), one movement; 29.67 − 18.51 = 11.16.
        customer = TelecomAccount(t.customer.id)
        self.assertEqual(customer.balance, Decimal('11.16'))
        movement, = BalanceLine.search([
                ('account', '=', customer.id), ('kind', '=', 'invoice')])
        self.assertEqual(movement.amount, Decimal('-18.51'))
        self.assertEqual(movement.origin, invoice)
        self.assertEqual(movement.move.origin, invoice)
        self.assertEqual(movement.move.state, 'posted')
        self.assertEqual(movement.move.date, JANUARY[1] + dt.timedelta(1))

        # The day's top-up and calls posted: the books, to the cent.
        BalanceLine.post_pending(until=TOMORROW)
        party = customer.party
        # The liability is the ledger: 30.00 − 0.33 − 18.51.
        self.assertEqual(total(t.prepaid['prepaid_account'], party),
            Decimal('11.16'))
        # The products' revenue: the extra line and the support fee (the
        # postpaid draft is not posted); the calls are not in it.
        self.assertEqual(total(t.books.service.account_revenue_used),
            Decimal('14.95'))
        self.assertEqual(total(t.prepaid['call_revenue_account']),
            Decimal('0.33'))
        self.assertEqual(total(t.books.vat.invoice_account),
            Decimal('3.56'))
        self.assertEqual(total(invoice.account, party), Decimal('0'))
        self.assertEqual(
            total(t.prepaid['prepaid_usage_account']), Decimal('0'))
        self.assertEqual(total(t.prepaid['topup_account']),
            Decimal('-30.00'))

    @with_transaction()
    def test_refund_next_invoice_negative_balance(self):
        """Calls re-rated free after January: refunded once (by the
        ledger); February's adjustment line does not refund again, and
        the settlement takes the balance below zero"""
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        Rate = pool.get('telecom.rate')
        TelecomAccount = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        Cdr = pool.get('telecom.cdr')
        ContactMechanism = pool.get('party.contact_mechanism')
        t = self.setUp_tenant(low_balance_threshold=Decimal(5))
        ContactMechanism.create([{'party': t.customer.party.id,
                    'type': 'email', 'value': 'pbx@example.com'}])
        with patch(SENDMAIL) as sendmail:
            Run.bill(t.r1, *JANUARY)
            self.assertEqual(
                TelecomAccount(t.customer.id).balance, Decimal('11.16'))
            sendmail.assert_not_called()

            uk, = Rate.search([('plan', '=', t.owner_plan.id),
                    ('prefix', '=', '44')])
            Rate.write([uk], {'price': Decimal(0)})
            Cdr.rerate(Cdr.search([('account', '=', t.customer.id)]))
            # Refunded 0.33 by the ledger: 11.49.
            self.assertEqual(
                TelecomAccount(t.customer.id).balance, Decimal('11.49'))

            run = Run.bill(t.r1, *FEBRUARY)
            sendmail.assert_called_once()

        invoice = self.invoice_of(run, t.customer)
        self.assertEqual(invoice.state, 'paid')
        adjustment, = [
            l for l in invoice.lines if l.telecom_kind == 'adjustment']
        self.assertEqual(adjustment.amount, Decimal('-0.33'))
        self.assertEqual(
            adjustment.account, t.prepaid['prepaid_usage_account'])
        # 4.95 + 10.00 − 0.33 = 14.62; taxes 0.99 + 0.50 + 2.00 and the
        # credit's VAT −0.066 → −0.07: 3.42. Total 18.04.
        self.assertEqual(invoice.untaxed_amount, Decimal('14.62'))
        self.assertEqual(invoice.tax_amount, Decimal('3.42'))
        self.assertEqual(invoice.total_amount, Decimal('18.04'))
        # The balance pays 18.04 + 0.33 = 18.37, not the credit again:
        # 11.49 − 18.37 = −6.88. Call control refuses every priced call.
        customer = TelecomAccount(t.customer.id)
        movement, = BalanceLine.search([('origin', '=', str(invoice))])
        self.assertEqual(movement.amount, Decimal('-18.37'))
        self.assertEqual(customer.balance, Decimal('-6.88'))
        self.assertEqual(customer.available_credit, Decimal('-6.88'))
        self.assertTrue(customer.low_balance_notified)

        BalanceLine.post_pending(until=TOMORROW)
        # Two months: the liability is the ledger; calls earned 0.33 then
        # refunded; VAT 3.56 + 3.42; receivable and clearing back to 0.
        self.assertEqual(total(t.prepaid['prepaid_account'], customer.party),
            Decimal('-6.88'))
        self.assertEqual(
            total(t.prepaid['call_revenue_account']), Decimal('0'))
        self.assertEqual(total(t.books.vat.invoice_account),
            Decimal('6.98'))
        self.assertEqual(total(invoice.account, customer.party), Decimal(0))
        self.assertEqual(
            total(t.prepaid['prepaid_usage_account']), Decimal('0'))

    @with_transaction()
    def test_invoices_emailed_once(self):
        """Each settled invoice e-mailed once after the run, by the queue:
        PDF and XML, to the reseller when asked; none without e-mail; not
        again by the next run"""
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        Invoice = pool.get('account.invoice')
        Address = pool.get('party.address')
        t = self.setUp_tenant()
        via = self.add_supported_customer(t, "Via Reseller",
            invoice_via_reseller=True)
        silent = self.add_supported_customer(t, "No Mail")
        Address.create([{'party': t.r1.party.id}])
        self.add_invoice_emails([
                (t.customer.party, 'pbx@example.com'),
                (via.party, 'via@example.com'),
                (t.r1.party, 'invoices@reseller-one.example')])

        with patch.object(document, 'send_message_transactional') as send:
            run = Run.bill(t.r1, *JANUARY)
            # Nothing rendered or sent inside the run's transaction.
            send.assert_not_called()
            self.assertEqual(run_queued('telecom_send_posted'), 1)
        invoices = {a: self.invoice_of(run, a)
            for a in [t.customer, via, silent]}
        self.assertEqual({i.state for i in invoices.values()}, {'paid'})
        sent = {m['To']: m for m in (c.args[0] for c in send.call_args_list)}
        self.assertEqual(sorted(sent), [
                'Prepaid PBX <pbx@example.com>',
                'Reseller One <invoices@reseller-one.example>'])
        for invoice, to in [
                (invoices[t.customer], 'Prepaid PBX <pbx@example.com>'),
                (invoices[via],
                    'Reseller One <invoices@reseller-one.example>')]:
            self.assertEqual(
                sorted(p.get_filename()
                    for p in sent[to].iter_attachments()),
                [f'{invoice.number}.pdf'.lower(),
                    f'{invoice.number}.xml'.lower()])
            self.assertIn(invoice.number, sent[to]['Subject'])
        self.assertIn("for you to forward", sent[
                'Reseller One <invoices@reseller-one.example>'].get_body(
                ('plain',)).get_content())
        self.assertEqual(
            [Invoice(invoices[a].id).telecom_sent_to
                for a in [t.customer, via, silent]],
            ['pbx@example.com', 'invoices@reseller-one.example', None])

        # Queued again, nothing is sent twice; the next run sends its own
        # invoices only (the charges' February), the silent one none.
        with patch.object(document, 'send_message_transactional') as send:
            Invoice.__queue__.telecom_send_posted(list(invoices.values()))
            self.assertEqual(run_queued('telecom_send_posted'), 1)
            send.assert_not_called()
            february = Run.bill(t.r1, *FEBRUARY)
            with self.assertLogs('trytond.modules.telecom_billing.document',
                    'INFO') as logs:
                run_queued('telecom_send_posted')
        self.assertEqual(send.call_count, 2)
        numbers = {self.invoice_of(february, a).number
            for a in [t.customer, via]}
        self.assertEqual(
            {c.args[0]['Subject'].split()[-1] for c in send.call_args_list},
            numbers)
        self.assertIn(
            f"{self.invoice_of(february, silent).rec_name} not e-mailed",
            logs.output[0])

    @with_transaction()
    def test_unsent_invoices_sent_by_cron(self):
        """A settled invoice whose queued e-mail was lost (the mail server
        down at the task's commit) is sent by the daily cron, once; an
        hour's grace leaves the queue its turn; a recipient without e-mail
        is skipped, not an error"""
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        Invoice = pool.get('account.invoice')
        t = self.setUp_tenant()
        silent = self.add_supported_customer(t, "No Mail")
        self.add_invoice_emails([(t.customer.party, 'pbx@example.com')])
        run = Run.bill(t.r1, *JANUARY)
        # The queued e-mail is lost.
        Transaction().tasks.clear()
        invoice = self.invoice_of(run, t.customer)
        self.assertEqual(invoice.state, 'paid')
        # The postpaid customer's draft is the review's, not the cron's.
        self.assertEqual(self.invoice_of(run, t.r1_customer).state, 'draft')

        with patch.object(document, 'send_message_transactional') as send:
            # made just now: the queue's to send
            self.assertEqual(Invoice.telecom_send_unsent(), 0)
            with self.assertLogs('trytond.modules.telecom_billing.document',
                    'INFO') as logs:
                # the two prepaid invoices, paid and unsent
                self.assertEqual(Invoice.telecom_send_unsent(
                        older_than=dt.timedelta(0)), 2)
            self.assertIn(f"{self.invoice_of(run, silent).rec_name} not "
                "e-mailed", logs.output[0])
            # the silent one is looked at again, nothing sent twice
            self.assertEqual(Invoice.telecom_send_unsent(
                    older_than=dt.timedelta(0)), 1)
        self.assertEqual(send.call_count, 1)
        message = send.call_args.args[0]
        self.assertEqual(message['To'], 'Prepaid PBX <pbx@example.com>')
        self.assertIn(invoice.number, message['Subject'])
        self.assertEqual(Invoice(invoice.id).telecom_sent_to,
            'pbx@example.com')

    @with_transaction()
    def test_missing_clearing_account(self):
        "Without the clearing account the tenant's run names it, bills none"
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        Invoice = pool.get('account.invoice')
        TelecomAccount = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = self.setUp_tenant(prepaid_usage_account=None)

        with self.assertRaisesRegex(UserError,
                'Reseller One.*"Prepaid Usage Invoiced Account"'):
            Run.bill(t.r1, *JANUARY)

        # Nothing billed, the postpaid customer's draft neither (the
        # run's own record goes with the caller's rollback).
        self.assertEqual(Invoice.search([('company', '=', t.r1.id)]), [])
        self.assertEqual(
            TelecomAccount(t.customer.id).balance, Decimal('29.67'))
        self.assertEqual(BalanceLine.search([('kind', '=', 'invoice')]), [])
