"""The affiliate's credit lines on its invoice, added by the billing run.

Through telecom_billing's extension point ``BillingRun._extra_lines``: one
credit line per referred invoice whose commissions are due, then, once the
run's invoices are saved, the commissions point at their line (``_bill``)
so they are credited once."""
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta


class BillingRun(metaclass=PoolMeta):
    __name__ = 'telecom.billing.run'

    def _extra_lines(self, ctx, accounts):
        result = super()._extra_lines(ctx, accounts)
        for account, lines in self._affiliate_lines(ctx, accounts).items():
            result.setdefault(account, []).extend(lines)
        return result

    def _affiliate_lines(self, ctx, accounts):
        """Return {account: [invoice line values]}: for each affiliate of
        ``accounts``, one credit line per referred invoice whose
        commissions are due — minus their sum, rounded once to the invoice
        currency's digits. Prepaid affiliates are left out: their
        commissions go to their balance (``credit_prepaid``), once."""
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        period = (self.start_date, self.end_date)
        accounts = [a for a in accounts if a.billing_mode != 'prepaid']
        by_id = {a.id: a for a in accounts}
        result = {}
        due = Affiliation.due_commissions(accounts, self.end_date)
        for (affiliation, referred), commissions in due.items():
            account = by_id[affiliation.affiliate.id]
            currency = affiliation.agent.currency
            total = sum(c.amount for c in commissions)
            base = sum(c.base_amount or 0 for c in commissions)
            result.setdefault(account, []).append(self._line(ctx,
                    account, affiliation.product, 'affiliate', 1,
                    -self._rounded(ctx, account, total, currency),
                    gettext('telecom_affiliate.msg_line_affiliate',
                        percentage=affiliation.percentage,
                        invoice=referred.number or referred.rec_name,
                        referred=affiliation.referred.rec_name,
                        base=currency.round(base)),
                    period, origin=referred))
        return result

    def _bill(self):
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        Commission = pool.get('commission')
        InvoiceLine = pool.get('account.invoice.line')
        run = super()._bill()
        lines = InvoiceLine.search([
                ('invoice.telecom_run', '=', run.id),
                ('telecom_kind', '=', 'affiliate'),
                ])
        if not lines:
            return run
        due = Affiliation.due_commissions(
            list({l.invoice.telecom_account for l in lines}), run.end_date)
        to_write = []
        for (affiliation, referred), commissions in due.items():
            for line in lines:
                if (line.origin == referred
                        and line.invoice.telecom_account
                        == affiliation.affiliate):
                    to_write.extend([commissions, {'invoice_line': line.id}])
        if to_write:
            Commission.write(*to_write)
        return run
