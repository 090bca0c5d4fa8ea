"""Prepaid affiliates' credits on their balance, and in the books.

A credit (kind *Affiliate*, origin the commission) is booked as Tryton's
commission module would book an agent's invoice: Dr the expense account
of the commission's product / Cr *Prepaid Balances* (the affiliate's
party), by telecom_payment's ledger (``BalanceLine.post``)."""
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .exceptions import AffiliateCreditError


class BalanceLine(metaclass=PoolMeta):
    __name__ = 'telecom.balance.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection.append(('affiliate', "Affiliate"))

    @classmethod
    def get_origins(cls):
        return super().get_origins() + [('commission', "Commission")]

    @classmethod
    def _counterpart(cls, account, lines):
        pool = Pool()
        Commission = pool.get('commission')
        Product = pool.get('product.product')
        if lines[0].kind != 'affiliate':
            return super()._counterpart(account, lines)
        # Not batched (telecom_payment's BATCHED): one movement a move.
        line, = lines
        if not isinstance(line.origin, Commission):
            raise AffiliateCreditError(gettext(
                    'telecom_affiliate.msg_credit_no_commission',
                    line=line.id, account=account.rec_name))
        # Read again in the tenant's context: the product's accounts are
        # per company, and the line's records keep the caller's context.
        with Transaction().set_context(company=account.company.id):
            return Product(line.origin.product.id).account_expense_used
