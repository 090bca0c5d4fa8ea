from trytond.model import Workflow
from trytond.pool import Pool, PoolMeta


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    @Workflow.transition('paid')
    def paid(cls, invoices):
        super().paid(invoices)
        Pool().get('telecom.minute_pack.credit').credit_invoices(invoices)
