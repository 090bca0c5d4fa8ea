"""Billing runs invoice prepaid accounts too, and pay them from the balance.

telecom_billing bills postpaid accounts only (``BillingRun._billed_modes``):
without this module nothing would pay a prepaid invoice whose calls the
balance already paid. Here prepaid accounts are billed by the same code
path; their usage lines credit the clearing account (the calls' revenue was
booked at rating), and once the run's invoices are written each prepaid
one is posted and paid from the balance (``invoice.py``)."""
import logging

from trytond.pool import Pool, PoolMeta
from trytond.modules.telecom_billing.run import CHUNK

from .balance import SETTLEMENT
from .invoice import USAGE_KINDS

logger = logging.getLogger(__name__)


class BillingRun(metaclass=PoolMeta):
    __name__ = 'telecom.billing.run'

    @classmethod
    def _billed_modes(cls):
        return super()._billed_modes() + ['prepaid']

    def _invoice_lines(self, ctx, accounts, usage):
        """The lines of a prepaid account's calls and re-rating
        adjustments credit the tenant's clearing account; a tenant that
        lacks the settings of the settlement is refused at its first
        prepaid invoice (the run writes nothing: one transaction)."""
        lines = super()._invoice_lines(ctx, accounts, usage)
        for account, values in lines.items():
            if account.billing_mode != 'prepaid' or not values:
                continue
            if getattr(ctx, 'prepaid', None) is None:
                ctx.prepaid = account.prepaid_configuration(SETTLEMENT)
            clearing = ctx.prepaid['prepaid_usage_account'].id
            for line in values:
                if line.get('telecom_kind') in USAGE_KINDS:
                    line['account'] = clearing
        return lines

    def _bill(self):
        pool = Pool()
        Invoice = pool.get('account.invoice')
        self._lock_for_posting()
        run = super()._bill()
        invoices = Invoice.search([
                ('telecom_run', '=', run.id),
                ('telecom_account.billing_mode', '=', 'prepaid'),
                ], order=[('id', 'ASC')])
        for i in range(0, len(invoices), CHUNK):
            Invoice.settle_from_balance(invoices[i:i + CHUNK])
            logger.info("%s: %d/%d prepaid invoices paid", run.rec_name,
                min(i + CHUNK, len(invoices)), len(invoices))
        return run

    def _lock_for_posting(self):
        """Ask, before anything is written, for the locks that posting the
        prepaid invoices takes — the tenant's strict sequences (invoice and
        move numbers) and the journal periods — so that the transaction
        started again holding them (cron, RPC, run_committed) does not bill
        the whole run twice."""
        pool = Pool()
        Account = pool.get('telecom.account')
        SequenceStrict = pool.get('ir.sequence.strict')
        JournalPeriod = pool.get('account.journal.period')
        if not Account.search([
                    ('company', '=', self.company.id),
                    ('billing_mode', '=', 'prepaid'),
                    ], limit=1):
            return
        SequenceStrict.lock(SequenceStrict.search(['OR',
                    ('company', '=', self.company.id),
                    ('company', '=', None),
                    ]))
        JournalPeriod.lock()
