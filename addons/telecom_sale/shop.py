"""The shop: what the web portal calls to list and sell products.

``Shop.products(account)`` lists what the account's tenant sells it,
``Shop.offers(account)`` the same with their prices with and without taxes;
``Shop.order(account, [(product, quantity)])`` makes, quotes, confirms and
processes a Tryton sale and returns it. All scope themselves to the
account's tenant whoever calls them (the portal may run as root), and
refuse, having written nothing, a bad order.

A prepaid account's order is invoiced by its sale like a postpaid one
(product revenue accounts, taxes through the party's tax rule) and the
invoice is posted and paid from the balance at once by telecom_payment's
settlement — the balance movement, the move and the e-mail of a billing
run's prepaid invoice.
"""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import Model
from trytond.modules.telecom_base.balance import to_decimal
from trytond.modules.telecom_rating.cdr import forget_cached
from trytond.pool import Pool
from trytond.transaction import Transaction

from .exceptions import OrderError
from .subscription import check_sellable


class Shop(Model):
    "Telecom Shop"
    __name__ = 'telecom.shop'

    @classmethod
    def _check_account(cls, account):
        pool = Pool()
        User = pool.get('res.user')
        transaction = Transaction()
        if (transaction.user and transaction.check_access
                and account.company.id not in User.get_companies()):
            raise OrderError(gettext(
                    'telecom_sale.msg_order_company',
                    account=account.rec_name))
        if account.state != 'active':
            raise OrderError(gettext(
                    'telecom_sale.msg_order_account_state',
                    account=account.rec_name))

    @classmethod
    def products(cls, account):
        """The products ``account``'s tenant sells it: salable telecom
        products of that tenant (recurring ones only to postpaid
        accounts), by name, read in the tenant's company (its prices)."""
        pool = Pool()
        Product = pool.get('product.product')
        cls._check_account(account)
        domain = [
            ('template.tenant', '=', account.company.id),
            ('template.telecom_kind', '!=', None),
            ('template.salable', '=', True),
            ]
        if account.billing_mode != 'postpaid':
            domain.append(('template.telecom_recurrence', '=', 'once'))
        with Transaction().set_context(company=account.company.id):
            return Product.search(domain, order=[('rec_name', 'ASC')])

    @classmethod
    def offers(cls, account):
        """[(product, price, price with taxes)] of what ``products``
        lists for ``account``: one of each as an order would charge it, in
        the account's currency (a recurring product: a period's price)."""
        offers = []
        with Transaction().set_context(company=account.company.id):
            for product in cls.products(account):
                sale = cls._sale(account, [(product, 1)])
                offers.append(
                    (product, sale.untaxed_amount, sale.total_amount))
        return offers

    @classmethod
    def order(cls, account, items):
        """Sell ``items`` — (product, quantity) — to ``account`` and return
        the processed sale.

        A postpaid account's one-off products are invoiced by the sale
        (a draft invoice, posted by the tenant's usual review); its
        recurring products become subscriptions billed by the runs. A
        prepaid account's invoice is posted and paid at once from its
        balance — refused when the balance is below the total with taxes
        — so its minute packs are credited at once."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        cls._check_account(account)
        if not items:
            raise OrderError(gettext(
                    'telecom_sale.msg_order_empty', account=account.rec_name))
        for product, quantity in items:
            if quantity is None or quantity <= 0 or quantity != int(quantity):
                raise OrderError(gettext(
                        'telecom_sale.msg_quantity_positive',
                        product=product.rec_name, account=account.rec_name,
                        quantity=quantity))
            check_sellable(account, product, quantity)
        with Transaction().set_context(company=account.company.id):
            sale = cls._sale(account, items)
            if not sale.invoice_address:
                raise OrderError(gettext(
                        'telecom_sale.msg_order_no_address',
                        account=account.rec_name,
                        party=account.party.rec_name))
            prepaid = account.billing_mode == 'prepaid'
            if prepaid:
                # Refused before anything is written (the total with the
                # lines' taxes).
                cls._check_balance(account, sale.total_amount)
            sale.save()
            Sale.quote([sale])
            Sale.confirm([sale])
            # Processed now, not by the queue: the portal shows the
            # invoice and the subscriptions of the order at once.
            Sale.process([sale])
            if prepaid:
                cls._pay_from_balance(account, Sale(sale.id))
        return Sale(sale.id)

    @classmethod
    def _sale(cls, account, items):
        """The unsaved sale of ``items`` to ``account``, its lines priced
        and taxed by Tryton's sale (the list price, or a price list when
        sale_price_list is installed; taxes through the party's tax
        rule); in the context of the account's company."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        Product = pool.get('product.product')
        sale = Sale(company=account.company, party=account.party,
            telecom_account=account)
        sale.on_change_party()
        sale.currency = account.currency
        if account.billing_mode == 'prepaid':
            # Invoiced when processed, whatever the tenant's sale
            # configuration says: the balance pays the order now.
            sale.invoice_method = 'order'
        lines = []
        for product, quantity in items:
            # Read again in the company: a product read outside it has no
            # list price (a company value).
            line = SaleLine(sale=sale, type='line',
                product=Product(product.id), quantity=quantity)
            line.on_change_product()
            lines.append(line)
        sale.lines = lines
        sale.on_change_lines()
        return sale

    @classmethod
    def _check_balance(cls, account, total):
        "Lock ``account`` and refuse when its balance is below ``total``"
        pool = Pool()
        Account = pool.get('telecom.account')
        # The row lock orders two orders of one account: the second reads
        # the balance the first left.
        Account.lock([account])
        table = Account.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.balance,
                where=table.id == account.id))
        balance = to_decimal(cursor.fetchone()[0])
        if balance < total:
            # Said in the currency's digits (SQLite gives 20 for 20.00).
            round_ = account.currency.round
            raise OrderError(gettext(
                    'telecom_sale.msg_order_balance',
                    account=account.rec_name, balance=round_(balance),
                    total=round_(total), currency=account.currency.code))

    @classmethod
    def _pay_from_balance(cls, account, sale):
        """Post the sale's invoice and pay it from the balance: one
        movement of kind invoice, its move, the invoice paid — so its
        minute packs are credited (``Invoice.paid``)."""
        pool = Pool()
        Account = pool.get('telecom.account')
        Invoice = pool.get('account.invoice')
        invoices = [i for i in sale.invoices if i.state == 'draft']
        # The invoice's total is what the balance pays; under the lock
        # taken again (held since the first check).
        cls._check_balance(account,
            sum((i.total_amount for i in invoices), Decimal(0)))
        Invoice.settle_from_balance(invoices)
        forget_cached(Account)
