from trytond.model import Workflow
from trytond.pool import Pool, PoolMeta


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def _post(cls, invoices):
        pool = Pool()
        Affiliation = pool.get('telecom.affiliation')
        # The agent must be on the invoice before the commission module
        # computes the commissions, when it is first posted.
        to_write = []
        for invoice in invoices:
            if invoice.agent or invoice.state in {'posted', 'paid'}:
                continue
            affiliation = Affiliation.of_invoice(invoice)
            if affiliation:
                to_write.extend([[invoice], {'agent': affiliation.agent.id}])
        if to_write:
            cls.write(*to_write)
        super()._post(invoices)
        Affiliation.credit_prepaid(invoices)

    @classmethod
    @Workflow.transition('paid')
    def paid(cls, invoices):
        super().paid(invoices)
        Pool().get('telecom.affiliation').credit_prepaid(invoices)


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.telecom_kind.selection.append(('affiliate', "Affiliate Credit"))

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['account.invoice']
