"""The affiliate's credit lines on its invoice, added by the billing run.

telecom_billing's run has no extension point for extra lines yet: this
module adds its lines after the run's other charges (``_charge_lines``) and
links the commissions to them once the run's invoices are saved
(``_bill``), by inheritance, without editing run.py."""
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta


class BillingRun(metaclass=PoolMeta):
    __name__ = 'telecom.billing.run'

    def _charge_lines(self, ctx, invoice, account):
        return (super()._charge_lines(ctx, invoice, account)
            + self._affiliate_lines(ctx, invoice, account))

    def _affiliate_lines(self, ctx, invoice, account):
        """One credit line per referred invoice whose commissions are due
        to ``account``: minus their sum, rounded once to the invoice
        currency's digits."""
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        lines = []
        due = Affiliation.due_commissions(account, self.end_date)
        for referred, commissions in due.items():
            affiliation, = Affiliation.search([
                    ('agent', '=', commissions[0].agent.id)], limit=1)
            total = sum(c.amount for c in commissions)
            base = sum(c.base_amount or 0 for c in commissions)
            currency = commissions[0].agent.currency
            lines.append(self._line(ctx,
                    invoice, affiliation.product, 'affiliate', 1,
                    -self._rounded(ctx, total, currency),
                    gettext('telecom_affiliate.msg_line_affiliate',
                        percentage=affiliation.percentage,
                        invoice=referred.number or referred.rec_name,
                        referred=affiliation.referred.rec_name,
                        base=currency.round(base)),
                    (self.start_date, self.end_date), origin=referred))
        return lines

    def _bill(self):
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        Commission = pool.get('commission')
        run = super()._bill()
        to_write = []
        for invoice in run.invoices:
            if not invoice.telecom_account:
                continue
            due = Affiliation.due_commissions(
                invoice.telecom_account, run.end_date)
            for line in invoice.lines:
                if line.telecom_kind == 'affiliate' and line.origin in due:
                    to_write.extend([due[line.origin],
                            {'invoice_line': line.id}])
        if to_write:
            Commission.write(*to_write)
        return run
