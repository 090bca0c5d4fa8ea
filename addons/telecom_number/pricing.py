"""What a tenant charges for numbers (F1, F27): a setup fee and a rental
per period, billed in advance, pro-rated by days on assignment and on
release, at every tenant level.

An **assignment** is one holding of a number by one account, from its
start to its end date; the owner's number assigned to a reseller's own
account and the reseller's copy assigned to its customer are two
assignments, each billed by its own tenant at its own price. Invoice lines
point to the assignment (their origin) with the period they cover, so the
run knows what was billed: a line is never repeated, and a release after a
period billed in advance credits the days not held.

Per-minute prices of inbound calls by origin (mobile, fixed, payphone) and
time band are the inbound rate plans of telecom_rating (rates by the
caller's prefix, time bands), rated at every level like outbound calls.
"""
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta

from trytond.modules.telecom_billing.recurring import (
    ONE_DAY, RECURRENCES, PlanOrAccountPriceMixin, billed_until,
    charge_period, periods_within, prorate)

from .exceptions import NumberStateError


class NumberPrice(PlanOrAccountPriceMixin, ModelSQL, ModelView):
    """Number Price

    What a tenant charges for each number it assigns, to the accounts on a
    rate plan or to one account."""
    __name__ = 'telecom.number.price'
    setup_fee = fields.Numeric(
        "Setup Fee", digits=(16, 4), required=True,
        help="Charged once, with the first period.")
    price = fields.Numeric(
        "Price per Period", digits=(16, 4), required=True,
        help="Charged in advance for each period; a period held in part "
        "is charged by days.")
    recurrence = fields.Selection(
        [r for r in RECURRENCES if r[0] != 'once'], "Recurrence",
        required=True)
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        help="The product of the invoice lines (its account and taxes).")

    @classmethod
    def default_recurrence(cls):
        return 'monthly'

    @classmethod
    def default_setup_fee(cls):
        return Decimal(0)

    def get_rec_name(self, name):
        return f'{self.price} / {self.recurrence_string}'

    recurrence_string = recurrence.translated('recurrence')

    @classmethod
    def validate_fields(cls, prices, field_names):
        super().validate_fields(prices, field_names)
        for price in prices:
            if price.price < 0 or price.setup_fee < 0:
                raise NumberStateError(gettext(
                        'telecom_number.msg_negative_price'))
            if bool(price.plan) == bool(price.account):
                raise NumberStateError(gettext(
                        'telecom_number.msg_price_plan_or_account'))

    @classmethod
    def price_of(cls, company, accounts):
        """Return {account id: number price or None}: the account's own
        price, else the price on its plans of ``company`` (oldest first)"""
        account_ids = [a.id for a in accounts]
        plans = {p.id for a in accounts for p in a.rate_plans}
        prices = cls.search([
                ('company', '=', company.id),
                ['OR',
                    ('account', 'in', account_ids),
                    [('account', '=', None), ('plan', 'in', list(plans))],
                    ],
                ], order=[('id', 'ASC')])
        own, of_plan = {}, {}
        for price in prices:
            if price.account:
                own.setdefault(price.account.id, price)
            else:
                of_plan.setdefault(price.plan.id, price)
        result = {}
        for account in accounts:
            result[account.id] = own.get(account.id) or next(
                (of_plan[p.id] for p in sorted(
                        account.rate_plans, key=lambda p: p.id)
                    if p.id in of_plan), None)
        return result


class Assignment(ModelSQL, ModelView):
    """Number Assignment

    One account holding one number of a tenant's inventory, from its start
    to its end date."""
    __name__ = 'telecom.number.assignment'
    number = fields.Many2One(
        'telecom.inventory.number', "Number", required=True,
        ondelete='CASCADE', readonly=True)
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='RESTRICT',
        readonly=True)
    start_date = fields.Date("Start Date", required=True, readonly=True)
    end_date = fields.Date("End Date", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('number')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.account, Index.Range())),
                Index(t, (t.number, Index.Range())),
                })
        cls._order.insert(0, ('start_date', 'DESC'))

    def get_rec_name(self, name):
        return self.number.rec_name


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in [('number', "Number"), ('number_setup', "Number Setup")]:
            if kind not in cls.telecom_kind.selection:
                cls.telecom_kind.selection.append(kind)

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['telecom.number.assignment']


class BillingRun(metaclass=PoolMeta):
    __name__ = 'telecom.billing.run'

    def _extra_lines(self, ctx, accounts):
        result = super()._extra_lines(ctx, accounts)
        pool = Pool()
        Assignment = pool.get('telecom.number.assignment')
        NumberPrice = pool.get('telecom.number.price')
        by_id = {a.id: a for a in accounts}
        assignments = Assignment.search([
                ('account', 'in', list(by_id)),
                ('number.company', '=', self.company.id),
                ('start_date', '<=', self.end_date),
                ], order=[('start_date', 'ASC'), ('id', 'ASC')])
        if not assignments:
            return result
        prices = NumberPrice.price_of(
            self.company, {by_id[a.account.id] for a in assignments})
        billed = self._number_lines_billed(assignments)
        for assignment in assignments:
            account = by_id[assignment.account.id]
            price = prices[account.id]
            if price is None:
                continue
            lines = self._number_lines(
                ctx, account, assignment, price, *billed[assignment.id])
            if lines:
                result.setdefault(account, []).extend(lines)
        return result

    @classmethod
    def _number_lines_billed(cls, assignments):
        """Return {assignment id: (setup billed, billed until)}: read from
        the invoice lines of the assignments (cancelled invoices aside)"""
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        setup, periods = set(), defaultdict(list)
        lines = InvoiceLine.search([
                ('origin', 'in', [str(a) for a in assignments]),
                ('invoice.state', '!=', 'cancelled'),
                ], order=[])
        for line in lines:
            key = line.origin.id
            if line.telecom_kind == 'number_setup':
                setup.add(key)
            else:
                periods[key].append((line.telecom_period_start,
                        line.telecom_period_end, line.unit_price < 0))
        return {a.id: (a.id in setup, billed_until(periods[a.id]))
            for a in assignments}

    def _number_lines(self, ctx, account, assignment, price, setup_billed,
            until):
        """The lines of one assignment for this run: its setup fee once,
        its rental up to the end of the period after the run's (in
        advance) or its end date, the days not held credited after a
        release"""
        lines = []
        number = assignment.number.rec_name
        start, end = assignment.start_date, assignment.end_date
        if not setup_billed and price.setup_fee:
            lines.append(self._line(ctx, account, price.product,
                    'number_setup', 1,
                    self._unit_price(
                        ctx, account, price.setup_fee, price.currency),
                    gettext('telecom_number.msg_line_setup',
                        number=number, date=start),
                    (start, start), origin=assignment))
        horizon = charge_period(
            price.recurrence, self.end_date + ONE_DAY)[1]
        if end is not None:
            horizon = min(horizon, end)
        first = until + ONE_DAY if until else start
        lines.extend(self._number_periods(ctx, account, assignment, price,
                first, horizon, 1))
        if end is not None and until and until > end:
            lines.extend(self._number_periods(ctx, account, assignment,
                    price, end + ONE_DAY, until, -1))
        return lines

    def _number_periods(self, ctx, account, assignment, price, first, last,
            sign):
        "A line per charge period of [first, last], charged or credited"
        lines = []
        number = assignment.number.rec_name
        message = ('telecom_number.msg_line_number' if sign > 0
            else 'telecom_number.msg_line_number_credit')
        for _, held, days, period_days in periods_within(
                price.recurrence, first, last):
            amount = prorate(price.price, days, period_days) * sign
            lines.append(self._line(ctx, account, price.product, 'number', 1,
                    self._rounded(ctx, account, amount, price.currency),
                    gettext(message, number=number, start=held[0],
                        end=held[1], days=days, period_days=period_days),
                    held, origin=assignment))
        return lines
