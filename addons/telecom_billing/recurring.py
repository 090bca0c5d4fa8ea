"""Recurring charges (F27) and feature prices (F15).

Charge periods are calendar-aligned: a month, a quarter (from January,
April, July, October), a half-year (January, July) or a year. A run bills a
charge period in arrears, with the run whose period holds the charge
period's last day. A service or a charge active on part of a charge period
is pro-rated by days: price × active days ÷ days of the charge period,
rounded once, to the invoice currency's digits, on its own invoice line.
"""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from .exceptions import ChargeError

RECURRENCES = [
    ('once', "One-off"),
    ('monthly', "Monthly"),
    ('quarterly', "Quarterly"),
    ('half_yearly', "Half-yearly"),
    ('annual', "Annual"),
    ]
MONTHS = {'monthly': 1, 'quarterly': 3, 'half_yearly': 6, 'annual': 12}
ONE_DAY = dt.timedelta(days=1)


def _add_months(date, months):
    month = date.month - 1 + months
    return date.replace(year=date.year + month // 12, month=month % 12 + 1)


def charge_period(recurrence, date):
    "The calendar-aligned charge period (first, last day) holding ``date``"
    months = MONTHS[recurrence]
    start = date.replace(month=(date.month - 1) // months * months + 1, day=1)
    return start, _add_months(start, months) - ONE_DAY


def periods_ending_in(recurrence, start, end):
    "The charge periods whose last day falls within [start, end]"
    first, last = charge_period(recurrence, start)
    while last <= end:
        if last >= start:
            yield first, last
        first = last + ONE_DAY
        first, last = charge_period(recurrence, first)


def active_days(period, start=None, end=None):
    "How many days of ``period`` fall within [start, end] (None: unbounded)"
    first = max(period[0], start) if start else period[0]
    last = min(period[1], end) if end else period[1]
    return max((last - first).days + 1, 0)


def extra_units(period, intervals, included, maximum=None):
    """The days each charged unit of a feature is active in ``period``.

    ``intervals`` are the (start, end) of the services counted (None for an
    open end). On each day the charged count is the active count, capped at
    ``maximum``, less ``included``. Unit k is charged on the days the
    charged count reaches k; so the included units are the longest-running
    services and a service that starts or stops mid-period is the one
    pro-rated. Return the days of each unit, longest first.
    """
    days = (period[1] - period[0]).days + 1
    counts = [0] * days
    for start, end in intervals:
        first = max((start - period[0]).days, 0) if start else 0
        last = min((end - period[0]).days, days - 1) if end else days - 1
        for day in range(first, last + 1):
            counts[day] += 1
    units = []
    for count in counts:
        if maximum is not None:
            count = min(count, maximum)
        for k in range(count - included):
            if k == len(units):
                units.append(0)
            units[k] += 1
    return units


def billed_until(periods):
    """The last day billed by invoice lines of (start, end, credit): the
    latest end of the charged ones, unless a credit (days billed in
    advance, then not held) starts earlier: then the day before it."""
    charged = [end for _, end, credit in periods if not credit]
    credits = [start for start, _, credit in periods if credit]
    if credits:
        return min(credits) - ONE_DAY
    return max(charged) if charged else None


def periods_within(recurrence, first, last):
    """Yield (charge period, (first, last) day of it within [first, last],
    days, days of the period) for each charge period meeting the range"""
    while first <= last:
        period = charge_period(recurrence, first)
        within = (max(first, period[0]), min(last, period[1]))
        yield (period, within, (within[1] - within[0]).days + 1,
            (period[1] - period[0]).days + 1)
        first = period[1] + ONE_DAY


TIMINGS = [
    ('arrears', "In Arrears"),
    ('advance', "In Advance"),
    ]


def prorate(amount, days, period_days):
    "``amount`` for ``days`` of a charge period of ``period_days``, unrounded"
    if days == period_days:
        return amount
    return amount * Decimal(days) / Decimal(period_days)


class PlanOrAccountPriceMixin:
    "A tenant's price for the accounts on one of its plans, or one account"
    __slots__ = ()
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    plan = fields.Many2One(
        'telecom.rate.plan', "Rate Plan", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': ~Eval('account'),
            'invisible': Bool(Eval('account')),
            },
        help="The price applies to the accounts that have this plan.")
    account = fields.Many2One(
        'telecom.account', "Account", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': ~Eval('plan'),
            'invisible': Bool(Eval('plan')),
            },
        help="The price applies to this account only, before any plan's.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True)

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id


class FeaturePrice(PlanOrAccountPriceMixin, ModelSQL, ModelView):
    """Feature Price

    What a tenant charges for a feature above its included count, for the
    accounts on a rate plan or for one account."""
    __name__ = 'telecom.feature.price'
    feature = fields.Many2One(
        'telecom.feature', "Feature", required=True, ondelete='RESTRICT')
    included = fields.Integer(
        "Included", required=True,
        domain=[('included', '>=', 0)],
        help="How many are free; the account's own feature limit, when it "
        "has one, says instead.")
    maximum = fields.Integer(
        "Maximum",
        domain=[If(Eval('maximum', None) != None,  # noqa: E711
                ('maximum', '>=', Eval('included', 0)), ())],
        help="The most that are charged (and the account's feature limit "
        "should allow no more). Leave empty for no maximum.")
    price = fields.Numeric(
        "Price per Extra", digits=(16, 4), required=True,
        help="The price of each one above the included count, per period.")
    recurrence = fields.Selection(
        [r for r in RECURRENCES if r[0] != 'once'], "Recurrence",
        required=True,
        help="The period the price is for; a service present on part of "
        "a period is charged by days.")
    product = fields.Many2One(
        'product.product', "Product", ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        help="The product of the invoice lines (its account and taxes).\n"
        "Leave empty to use the feature product of the billing "
        "configuration.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('feature', 'ASC'))

    @classmethod
    def default_included(cls):
        return 0

    @classmethod
    def default_recurrence(cls):
        return 'monthly'

    def get_rec_name(self, name):
        return f'{self.feature.rec_name} @ {self.price}'

    @classmethod
    def validate_fields(cls, prices, field_names):
        super().validate_fields(prices, field_names)
        for price in prices:
            if price.price is not None and price.price < 0:
                raise ChargeError(gettext(
                        'telecom_billing.msg_negative_price',
                        feature=price.feature.rec_name, price=price.price))
            if bool(price.plan) == bool(price.account):
                raise ChargeError(gettext(
                        'telecom_billing.msg_price_plan_or_account',
                        feature=price.feature.rec_name))


class AccountCharge(ModelSQL, ModelView):
    """Account Charge

    Another charge of an account: a one-off fee or a recurring rental,
    from its start date to its end date."""
    __name__ = 'telecom.account.charge'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        help="The product of the invoice lines (its account and taxes).")
    description = fields.Char(
        "Description", required=True,
        help="The text of the invoice lines.")
    quantity = fields.Float(
        "Quantity", digits=(16, 2), required=True,
        domain=[('quantity', '>', 0)])
    amount = fields.Numeric(
        "Unit Price", digits=(16, 4), required=True,
        help="The price of one unit for the whole period (or once).")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True)
    recurrence = fields.Selection(RECURRENCES, "Recurrence", required=True)
    timing = fields.Selection(
        TIMINGS, "Billed", required=True,
        states={
            'invisible': Eval('recurrence') == 'once',
            },
        help="In arrears: a period is invoiced by the run that holds its "
        "last day. In advance: by the run before it starts (the days "
        "before the charge's first run are caught up); days billed in "
        "advance after the end date are credited.")
    start_date = fields.Date(
        "Start Date", required=True,
        help="A one-off charge is invoiced by the first run to cover this "
        "date; a recurring one starts here.")
    end_date = fields.Date(
        "End Date",
        domain=[If(Eval('end_date') & Eval('start_date'),
                ('end_date', '>=', Eval('start_date')), ())],
        states={
            'invisible': Eval('recurrence') == 'once',
            },
        help="The last day charged. Leave empty while it runs.")
    invoiced_until = fields.Function(
        fields.Date("Invoiced Until",
            help="The last day of the last period on an invoice "
            "(cancelled invoices aside)."),
        'get_invoiced_until')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        cls._order.insert(0, ('start_date', 'DESC'))

    @classmethod
    def default_quantity(cls):
        return 1

    @classmethod
    def default_recurrence(cls):
        return 'monthly'

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_timing(cls):
        return 'arrears'

    @fields.depends('account', '_parent_account.currency')
    def on_change_account(self):
        if self.account and not getattr(self, 'currency', None):
            self.currency = self.account.currency

    @classmethod
    def get_invoiced_until(cls, charges, name):
        return cls.invoiced_until_of(charges)

    @classmethod
    def invoiced_until_of(cls, charges):
        "Return {charge id: last day invoiced or None}"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        periods = {c.id: [] for c in charges}
        lines = InvoiceLine.search([
                ('origin', 'in', [str(c) for c in charges]),
                ('invoice.state', '!=', 'cancelled'),
                ], order=[])
        for line in lines:
            periods[line.origin.id].append((line.telecom_period_start,
                    line.telecom_period_end, line.unit_price < 0))
        return {c: billed_until(p) for c, p in periods.items()}

    @classmethod
    def validate_fields(cls, charges, field_names):
        super().validate_fields(charges, field_names)
        for charge in charges:
            if charge.amount is not None and charge.amount < 0:
                raise ChargeError(gettext(
                        'telecom_billing.msg_negative_charge',
                        charge=charge.description, amount=charge.amount))
