"""Shop orders as Tryton sales.

An order is a ``sale.sale`` of the account's tenant to the account's party,
quoted, confirmed and processed like any sale: one-off products are
invoiced by the sale (a phone is shipped by the tenant's warehouse), while
a recurring product's line becomes a subscription when the sale is
processed — its periods are invoiced by the billing runs, not by the sale.
"""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'
    telecom_account = fields.Many2One(
        'telecom.account', "Telecom Account", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('party', '=', Eval('party', -1)),
            ],
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="The account the products are for: minute packs credit its "
        "bundle, subscriptions and packages are its own.")

    def _get_invoice(self):
        invoice = super()._get_invoice()
        # The account's invoice: its portal lists it, its brand prints it,
        # its prepaid balance pays it (telecom_payment's settlement).
        invoice.telecom_account = self.telecom_account
        return invoice

    @classmethod
    def process(cls, sales):
        super().process(sales)
        cls.subscribe([s for s in sales
                if s.state in {'processing', 'done'}])

    @classmethod
    def subscribe(cls, sales):
        """Turn the recurring lines of ``sales`` into subscriptions of
        their account, starting on the sale date; once per line."""
        pool = Pool()
        Subscription = pool.get('telecom.subscription')
        lines = [l for s in sales if s.telecom_account
            for l in s.lines if l.telecom_recurring]
        done = {s.origin for s in Subscription.search([
                    ('origin', 'in', [str(l) for l in lines]),
                    ])}
        lines = [l for l in lines if l not in done]
        if not lines:
            return []
        return Subscription.create([{
                    'account': l.sale.telecom_account.id,
                    'product': l.product.id,
                    'quantity': int(l.quantity),
                    'unit_price': l.unit_price,
                    'currency': l.sale.currency.id,
                    'start_date': l.sale.sale_date,
                    'origin': str(l),
                    } for l in lines])


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    @property
    def telecom_recurring(self):
        return bool(self.type == 'line' and self.product
            and self.product.template.telecom_recurring)

    def get_invoice_line(self):
        # Billing runs invoice the periods of the subscription it becomes.
        if self.telecom_recurring:
            return []
        return super().get_invoice_line()

    @property
    def _invoice_remaining_quantity(self):
        if self.telecom_recurring:
            return None
        return super()._invoice_remaining_quantity
