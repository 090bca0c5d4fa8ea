"""Subscriptions of accounts to products, and minute pack credits (F28).

A subscription is what the customer bought: a product, a quantity, a
price, from a start date to an (optional) end date. Its money goes through
telecom_billing: each subscription owns one ``telecom.account.charge``
(one-off or recurring), so the billing run invoices it with the same
calendar periods and pro-rating as every other charge — there is no second
pro-rating engine here.

A minute pack credits the account's bundle balance (telecom_rating) once
per invoice line paid — or at once for a prepaid account, whose balance
pays the order. The credit is a record unique per origin line: paying,
unreconciling and paying again credits nothing more.
"""
import logging
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.modules.telecom_base.locking import advisory_lock
from trytond.modules.telecom_billing.recurring import active_days
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction, without_check_access

from .exceptions import MinutePackError, SubscriptionError

logger = logging.getLogger(__name__)


def check_sellable(account, product, quantity, unit_price=None):
    """Raise a clear error when ``account`` may not buy ``quantity`` of
    ``product`` at ``unit_price``: the checks shared by subscriptions and
    shop orders."""
    template = product.template
    if quantity is None or quantity <= 0:
        raise SubscriptionError(gettext(
                'telecom_sale.msg_quantity_positive',
                product=product.rec_name, account=account.rec_name,
                quantity=quantity))
    if unit_price is not None and unit_price < 0:
        raise SubscriptionError(gettext(
                'telecom_sale.msg_price_negative',
                product=product.rec_name, account=account.rec_name,
                price=unit_price))
    if not template.telecom_kind:
        raise SubscriptionError(gettext(
                'telecom_sale.msg_not_telecom_product',
                product=product.rec_name))
    # The product's tenant must be the account's: a reseller sells its
    # own products to its own customers only. The message does not name
    # the other tenant.
    if template.tenant != account.company:
        raise SubscriptionError(gettext(
                'telecom_sale.msg_other_tenant_product',
                product=product.rec_name, account=account.rec_name))
    if template.telecom_recurring and account.billing_mode != 'postpaid':
        raise SubscriptionError(gettext(
                'telecom_sale.msg_prepaid_recurring',
                product=product.rec_name, account=account.rec_name))
    if template.telecom_kind == 'minute_pack':
        Pool().get('telecom.minute_pack.credit').bundle_of(account, template)


class Subscription(ModelSQL, ModelView):
    """Subscription

    An account's purchase of a telecom product: a phone, a service, a
    minute pack or a concurrent calls package, once or recurring."""
    __name__ = 'telecom.subscription'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        domain=[('template.telecom_kind', '!=', None)],
        help="A telecom product of the account's tenant.",
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    company = fields.Function(
        fields.Many2One('company.company', "Tenant"),
        'on_change_with_company')
    quantity = fields.Integer("Quantity", required=True)
    unit_price = fields.Numeric(
        "Unit Price", digits=(16, 4), required=True,
        help="The price of one unit, once or for each period; by default "
        "the product's sale price for the account.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True,
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    recurrence = fields.Function(
        fields.Selection('get_recurrences', "Billed"),
        'on_change_with_recurrence')
    start_date = fields.Date("Start Date", required=True)
    end_date = fields.Date(
        "End Date",
        domain=[If(Eval('end_date') & Eval('start_date'),
                ('end_date', '>=', Eval('start_date')), ())],
        help="The last day charged. Leave empty while it runs.")
    charge = fields.Many2One(
        'telecom.account.charge', "Charge", readonly=True,
        ondelete='RESTRICT',
        help="The charge the billing runs invoice.")
    origin = fields.Reference(
        "Origin", selection=[
            (None, ''),
            ('sale.line', "Sale Line"),
            ], readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_constraints += [
            ('origin_unique', Unique(t, t.origin),
                'telecom_sale.msg_subscription_origin_unique'),
            ]
        cls._order.insert(0, ('start_date', 'DESC'))

    @classmethod
    def default_quantity(cls):
        return 1

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def get_recurrences(cls):
        pool = Pool()
        Template = pool.get('product.template')
        return Template.fields_get(
            ['telecom_recurrence'])['telecom_recurrence']['selection']

    @fields.depends('account', '_parent_account.company')
    def on_change_with_company(self, name=None):
        return self.account.company if self.account else None

    @fields.depends('product', '_parent_product.template')
    def on_change_with_recurrence(self, name=None):
        if self.product:
            return self.product.template.telecom_recurrence

    @fields.depends('account', 'product', 'quantity', 'currency',
        '_parent_account.currency', '_parent_account.party')
    def on_change_product(self):
        if self.account and not self.currency:
            self.currency = self.account.currency
        if self.account and self.product:
            self.unit_price = self.account_price(
                self.account, self.product, self.quantity or 1)

    @classmethod
    def account_price(cls, account, product, quantity):
        """The sale price of ``product`` for ``account``, in its currency:
        Tryton's sale price (the list price, or the price list when one is
        installed), the price the shop quotes too."""
        pool = Pool()
        Product = pool.get('product.product')
        with Transaction().set_context(
                company=account.company.id, currency=account.currency.id,
                customer=account.party.id, quantity=quantity):
            return Product.get_sale_price([product], quantity)[product.id]

    def get_rec_name(self, name):
        return f'{self.product.rec_name} × {self.quantity}'

    @classmethod
    def validate_fields(cls, subscriptions, field_names):
        super().validate_fields(subscriptions, field_names)
        for subscription in subscriptions:
            check_sellable(subscription.account, subscription.product,
                subscription.quantity, subscription.unit_price)
            if subscription.currency != subscription.account.currency:
                raise SubscriptionError(gettext(
                        'telecom_sale.msg_subscription_currency',
                        product=subscription.product.rec_name,
                        account=subscription.account.rec_name,
                        currency=subscription.account.currency.code))

    def _charge_values(self):
        template = self.product.template
        return {
            'account': self.account.id,
            'product': self.product.id,
            'description': self.product.rec_name,
            'quantity': self.quantity,
            'amount': self.unit_price,
            'currency': self.currency.id,
            'recurrence': template.telecom_recurrence,
            'start_date': self.start_date,
            'end_date': (self.end_date
                if template.telecom_recurrence != 'once' else None),
            }

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Charge = pool.get('telecom.account.charge')
        subscriptions = super().create(vlist)
        if not subscriptions:
            return subscriptions
        with without_check_access():
            charges = Charge.create(
                [s._charge_values() for s in subscriptions])
            cls.write(*sum(([[s], {'charge': c.id}]
                        for s, c in zip(subscriptions, charges)), []))
        cls._update_accounts(subscriptions)
        return subscriptions

    @classmethod
    def write(cls, *args):
        pool = Pool()
        Charge = pool.get('telecom.account.charge')
        super().write(*args)
        subscriptions = cls.browse(sum(args[::2], []))
        to_write = []
        for subscription in subscriptions:
            if subscription.charge:
                to_write.extend([[subscription.charge],
                        subscription._charge_values()])
        if to_write:
            with without_check_access():
                Charge.write(*to_write)
        cls._update_accounts(subscriptions)

    @classmethod
    def delete(cls, subscriptions):
        pool = Pool()
        Charge = pool.get('telecom.account.charge')
        charges = [s.charge for s in subscriptions if s.charge]
        invoiced = Charge.invoiced_until_of(charges)
        for subscription in subscriptions:
            if subscription.charge and invoiced[subscription.charge.id]:
                raise SubscriptionError(gettext(
                        'telecom_sale.msg_subscription_invoiced',
                        subscription=subscription.rec_name,
                        account=subscription.account.rec_name))
        packages = [s.account for s in subscriptions
            if s.product.template.telecom_kind == 'concurrent_calls']
        super().delete(subscriptions)
        with without_check_access():
            Charge.delete(charges)
        if packages:
            pool.get('telecom.account').update_extra_calls(packages)

    @classmethod
    def _update_accounts(cls, subscriptions):
        Account = Pool().get('telecom.account')
        packages = [s.account for s in subscriptions
            if s.product.template.telecom_kind == 'concurrent_calls']
        if packages:
            Account.update_extra_calls(packages)

    def active_on(self, date):
        return (self.start_date <= date
            and (not self.end_date or date <= self.end_date))

    def pack_seconds(self, start, end):
        """The seconds the period [start, end] of a minute pack gives: its
        minutes × quantity, pro-rated by days like its price, rounded down
        to the second."""
        template = self.product.template
        seconds = template.pack_minutes * 60 * self.quantity
        if template.telecom_recurrence == 'once' or not start or not end:
            return seconds
        days = active_days((start, end), self.start_date, self.end_date)
        period_days = (end - start).days + 1
        return seconds * days // period_days


class MinutePackCredit(ModelSQL, ModelView):
    """Minute Pack Credit

    The seconds a paid minute pack added to an account's bundle balance,
    once per origin line."""
    __name__ = 'telecom.minute_pack.credit'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='RESTRICT',
        readonly=True)
    bundle = fields.Many2One(
        'telecom.bundle', "Bundle", required=True, ondelete='RESTRICT',
        readonly=True)
    month = fields.Date("Month", required=True, readonly=True,
        help="The month of the bundle balance credited.")
    seconds = fields.Integer("Seconds", required=True, readonly=True)
    origin = fields.Reference(
        "Origin", required=True, readonly=True, selection=[
            ('account.invoice.line', "Invoice Line"),
            ('sale.line', "Sale Line"),
            ])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_constraints += [
            ('origin_unique', Unique(t, t.origin),
                'telecom_sale.msg_pack_credit_once'),
            ]
        cls._order = [('month', 'DESC'), ('id', 'DESC')]

    @classmethod
    def bundle_of(cls, account, template):
        """The bundle of ``account``'s rate plans on exactly the pack's
        destination groups; raise MinutePackError when there is none, as
        the rating engine would never spend the minutes."""
        groups = set(template.pack_groups)
        for plan in account.rate_plans:
            for bundle in plan.bundles:
                if set(bundle.groups) == groups:
                    return bundle
        raise MinutePackError(gettext(
                'telecom_sale.msg_pack_no_bundle',
                product=template.rec_name, account=account.rec_name,
                groups=', '.join(sorted(g.rec_name for g in groups))))

    @classmethod
    def credit(cls, packs, date=None):
        """Credit ``packs`` — (account, template, seconds, origin) — to
        the bundle balances of the month of ``date``, each origin once.
        Return the credits made."""
        pool = Pool()
        Balance = pool.get('telecom.bundle.balance')
        Date = pool.get('ir.date')
        if not packs:
            return []
        # Rating spends the same balances: read and write them under its
        # lock so no spending is lost between the two.
        advisory_lock('telecom.cdr.rating')
        if date is None:
            date = Date.today()
        month = date.replace(day=1)
        done = {str(c.origin) for c in cls.search([
                    ('origin', 'in', [str(p[3]) for p in packs]),
                    ])}
        to_create = []
        for account, template, seconds, origin in packs:
            if str(origin) in done or seconds <= 0:
                continue
            try:
                bundle = cls.bundle_of(account, template)
            except MinutePackError as exception:
                # A payment is never refused for it: the plan changed after
                # the sale; the operator credits by hand.
                logger.warning("minute pack not credited: %s", exception)
                continue
            done.add(str(origin))
            to_create.append({
                    'account': account.id, 'bundle': bundle.id,
                    'month': month, 'seconds': seconds, 'origin': str(origin),
                    })
        added = defaultdict(int)
        for values in to_create:
            added[(values['account'], values['bundle'])] += values['seconds']
        balances = Balance.for_month(month, list(added))
        to_write = []
        for key, seconds in added.items():
            balance = balances[key]
            to_write.extend(
                [[balance], {'current': balance.current + seconds}])
        if to_write:
            Balance.write(*to_write)
        return cls.create(to_create)

    @classmethod
    def credit_invoices(cls, invoices):
        "Credit the minute packs of the paid customer ``invoices``"
        pool = Pool()
        Charge = pool.get('telecom.account.charge')
        SaleLine = pool.get('sale.line')
        Subscription = pool.get('telecom.subscription')
        packs = []
        for invoice in invoices:
            if invoice.type != 'out':
                continue
            for line in invoice.lines:
                template = line.product.template if line.product else None
                if (line.type != 'line' or not template
                        or template.telecom_kind != 'minute_pack'
                        or (line.quantity or 0) <= 0):
                    continue
                seconds = template.pack_minutes * 60 * int(line.quantity)
                account = invoice.telecom_account
                if isinstance(line.origin, SaleLine):
                    account = line.origin.sale.telecom_account or account
                elif isinstance(line.origin, Charge):
                    for subscription in Subscription.search([
                                ('charge', '=', line.origin.id)], limit=1):
                        seconds = subscription.pack_seconds(
                            line.telecom_period_start, line.telecom_period_end)
                if account:
                    packs.append((account, template, seconds, line))
        with without_check_access():
            return cls.credit(packs)
