"""Prepaid invoices, paid from the balance at once.

A billing run invoices a prepaid account as a postpaid one (telecom_billing,
one code path: recurring charges, pro-rating, usage lines, taxes), with one
difference made by ``run.py``: its usage lines — calls and re-rating
adjustments, debited from the balance when they were rated and booked as
call revenue by the ledger — credit the *Prepaid Usage Invoiced* clearing
account instead of revenue. ``Invoice.settle_from_balance`` then posts the
invoice and pays it:

- one balance movement (kind ``invoice``) of the rest — recurring charges,
  feature extras and every tax, since rated prices are net of tax — which
  may take the balance below zero;
- one move, Dr clearing (the usage lines) + Dr prepaid balances (the rest)
  / Cr receivable (the total), reconciled with the invoice's receivable
  lines: the invoice is paid, the clearing account back to 0;
- the invoice e-mailed as an approved one (telecom_billing's
  ``telecom_send_posted``) by the queue, once the caller commits; a daily
  cron sends again those the queue did not (``telecom_send_unsent``).

The shop's orders of prepaid accounts (telecom_sale) are invoiced by their
sale and settled the same way; they have no usage lines.
"""
import datetime as dt
import logging
from decimal import Decimal

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .balance import SETTLEMENT, move_line

# The invoice lines of calls, already debited from the balance at rating.
USAGE_KINDS = {'usage', 'adjustment'}
# How far back the cron looks for prepaid invoices whose e-mail was lost:
# a month's run and a few days of a mail server down.
UNSENT_DAYS = 35
logger = logging.getLogger(__name__)


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def settle_from_balance(cls, invoices):
        """Post ``invoices`` (drafts of prepaid accounts, from a billing
        run or a shop order) and pay each from its account's balance: one
        settlement move and at most one balance movement per invoice; then
        queue their e-mail. Return the moves."""
        pool = Pool()
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        BalanceLine = pool.get('telecom.balance.line')
        if not invoices:
            return []
        # The run's drafts hold the run's taxes (less exemptions) and date:
        # Tryton's warnings about them are the run's decision, as approved.
        with Transaction().set_context(_skip_warnings=True):
            cls.post(invoices)
        invoices = cls.browse([i.id for i in invoices])
        settled, moves, movements = [], [], []
        for invoice in invoices:
            config = invoice.telecom_account.prepaid_configuration(SETTLEMENT)
            move, rest = invoice._settlement(config)
            if move is None:
                continue
            settled.append(invoice)
            moves.append(move)
            if rest:
                movements.append({
                        'account': invoice.telecom_account.id,
                        'amount': -rest, 'kind': 'invoice',
                        'origin': str(invoice),
                        'description': gettext(
                            'telecom_payment.msg_settlement_movement',
                            invoice=invoice.number),
                        })
        Move.save(moves)
        Move.post(moves)
        MoveLine.reconcile(*(
                [l for l in invoice.lines_to_pay if not l.reconciliation]
                + [l for l in move.lines if l.account == invoice.account]
                for invoice, move in zip(settled, moves)
                if invoice.lines_to_pay))
        BalanceLine.add_movements(movements)
        move_of = {str(i): m.id for i, m in zip(settled, moves)}
        to_link = []
        for line in BalanceLine.search([
                    ('origin', 'in', list(move_of)),
                    ('kind', '=', 'invoice'),
                    ('move', '=', None),
                    ]):
            to_link.extend([[line], {'move': move_of[str(line.origin)]}])
        if to_link:
            BalanceLine.write(*to_link)
        # Now, not by the queue (which only runs after an RPC's commit):
        # the run's caller finds its prepaid invoices paid.
        cls.process(settled)
        # E-mailed (F30) as the review would, but by the queue, after the
        # caller's commit: a run's thousands of PDFs are not rendered in
        # its transaction, and a rolled-back run queues nothing. Batches,
        # when a worker runs the queue.
        with Transaction().set_context(queue_batch=True):
            cls.__queue__.telecom_send_posted(invoices)
        logger.info("%d prepaid invoices paid from the balance",
            len(settled))
        return moves

    @classmethod
    def telecom_send_unsent(cls, older_than=dt.timedelta(hours=1)):
        """Cron: e-mail the prepaid accounts' invoices paid from the
        balance, made in the last UNSENT_DAYS days but more than
        ``older_than`` ago, and still not sent — their queued e-mail
        failed (the mail server refused it at commit, the task was lost)
        and Tryton's queue does not try a failed task again.
        ``telecom_send_posted`` sends each once and skips, logging it, a
        recipient without e-mail."""
        # create_date is stored in UTC
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        invoices = cls.search([
                ('type', '=', 'out'),
                ('state', 'in', ['posted', 'paid']),
                ('telecom_sent_to', '=', None),
                ('telecom_account.billing_mode', '=', 'prepaid'),
                ('create_date', '>=', now - dt.timedelta(days=UNSENT_DAYS)),
                ('create_date', '<', now - older_than),
                ], order=[('id', 'ASC')])
        # One lock and one batch of PDFs at a time.
        for sub in grouped_slice(invoices, 100):
            cls.telecom_send_posted(list(sub))
        return len(invoices)

    def _settlement(self, config):
        """The move paying this posted invoice from its prepaid balance and
        the part the balance pays, in the invoice currency: (move, rest),
        or (None, 0) when there is nothing to move."""
        pool = Pool()
        Move = pool.get('account.move')
        Period = pool.get('account.period')
        clearing = config['prepaid_usage_account']
        # In the invoice currency, what the invoice says; in the company's,
        # what its move booked (the amounts to reconcile and clear).
        usage = sum((l.amount for l in self.lines
                if l.type == 'line' and l.telecom_kind in USAGE_KINDS),
            Decimal(0))
        rest = self.total_amount - usage
        to_pay = [l for l in self.lines_to_pay if not l.reconciliation]
        total_company = sum((l.debit - l.credit for l in to_pay), Decimal(0))
        usage_company = sum((l.credit - l.debit for l in self.move.lines
                if l.account == clearing), Decimal(0))
        rest_company = total_company - usage_company
        second = (self.currency
            if self.currency != self.company.currency else None)
        lines = [move_line(account, value, second_value, second, party)
            for account, value, second_value, party in [
                (self.account, -total_company, -self.total_amount,
                    self.party),
                (clearing, usage_company, usage, None),
                (config['prepaid_account'], rest_company, rest, self.party),
                ] if value or second_value]
        if not lines:
            return None, Decimal(0)
        date = self.accounting_date or self.invoice_date
        return Move(
            company=self.company, journal=config['prepaid_journal'],
            period=Period.find(self.company, date=date), date=date,
            origin=self,
            description=gettext('telecom_payment.msg_settlement_description',
                invoice=self.number, account=self.telecom_account.rec_name),
            lines=lines), rest
