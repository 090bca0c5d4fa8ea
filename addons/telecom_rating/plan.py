"""Rate plans, their rates, markups, time bands and bundles (F8–F12, F14).

Everything here is what the engine compiles from (see ``tariff.py``); any
change clears the compiled tariff of every process through Tryton's cache
(`TariffChangeMixin`), so a price change is live without a restart.
"""
import datetime as dt
from decimal import Decimal

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from trytond.modules.telecom_base.caching import clears_caches

from .engine.model import DAY_NAMES

ROUNDINGS = [
    ('half-up', "Half up"),
    ('up', "Up"),
    ('down', "Down"),
    ]
SERVICES = [
    ('voice', "Voice"),
    ('fax', "Fax"),
    ('sms', "Text messages"),
    ]
DIRECTIONS = [
    ('outbound', "Outbound"),
    ('inbound', "Inbound"),
    ]
PRICE_DIGITS = (16, 6)

# One entry: the compiled tariff of the database (its size is 1 by the
# key it is stored under, not by [cache] limits).
tariff_cache = Cache('telecom_rating.tariff', context=False)


class TariffChangeMixin(clears_caches(tariff_cache)):
    "Models the tariff is compiled from: a change clears the compiled one"
    __slots__ = ()


def check_digits(Model, field, value):
    if value and not value.isdigit():
        raise ValidationError(gettext(
                'telecom_rating.msg_not_digits',
                field=Model.__names__(field)['field'], value=value))


def default_company():
    return Transaction().context.get('company')


class TimeBand(TariffChangeMixin, ModelSQL, ModelView):
    """Time Band

    Peak, off-peak, weekend…: the union of its windows, in the time zone of
    the band (F12)."""
    __name__ = 'telecom.time_band'
    name = fields.Char("Name", required=True)
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='CASCADE')
    timezone = fields.Selection(
        'get_timezones', "Time Zone", required=True,
        help="Where the band's hours are read; summer time is followed.")
    windows = fields.One2Many(
        'telecom.time_band.window', 'band', "Windows")
    holidays = fields.Text(
        "Holidays",
        help="Dates (YYYY-MM-DD, one per line) on which every band of this "
        "time zone sees a Sunday.")

    default_company = staticmethod(default_company)

    @classmethod
    def get_timezones(cls):
        Company = Pool().get('company.company')
        return [z for z in Company.timezone.selection if z[0]]

    @classmethod
    def default_timezone(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = default_company()
        if company is not None and company >= 0:
            return Company(company).timezone or 'UTC'
        return 'UTC'

    def holiday_dates(self):
        dates = set()
        for line in (self.holidays or '').split():
            dates.add(dt.date.fromisoformat(line.strip()))
        return frozenset(dates)

    @classmethod
    def validate_fields(cls, bands, field_names):
        super().validate_fields(bands, field_names)
        for band in bands:
            try:
                band.holiday_dates()
            except ValueError as exception:
                raise ValidationError(gettext(
                        'telecom_rating.msg_holiday_date',
                        band=band.name, error=str(exception))) from exception


class TimeBandWindow(TariffChangeMixin, ModelSQL, ModelView):
    "Time Band Window"
    __name__ = 'telecom.time_band.window'
    band = fields.Many2One(
        'telecom.time_band', "Band", required=True, ondelete='CASCADE')
    days = fields.Char(
        "Days", required=True,
        help="The days the window starts on: mon-fri, sat,sun, mon,wed-fri.")
    start = fields.Time("Start", required=True, format='%H:%M')
    end = fields.Time(
        "End", format='%H:%M',
        help="Leave empty for 24:00. An end before the start wraps "
        "past midnight.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('band')

    def day_numbers(self):
        days = set()
        for part in self.days.lower().replace(' ', '').split(','):
            first, _, last = part.partition('-')
            first = DAY_NAMES.index(first[:3])
            last = DAY_NAMES.index(last[:3]) if last else first
            days.update(
                range(first, last + 1) if first <= last
                else list(range(first, 7)) + list(range(0, last + 1)))
        return frozenset(days)

    @classmethod
    def validate_fields(cls, windows, field_names):
        super().validate_fields(windows, field_names)
        for window in windows:
            try:
                window.day_numbers()
            except ValueError as exception:
                raise ValidationError(gettext(
                        'telecom_rating.msg_window_days',
                        days=window.days)) from exception


class RatePlan(TariffChangeMixin, DeactivableMixin, ModelSQL, ModelView):
    """Rate Plan

    A price list of one tenant for one service and direction (F8). With a
    parent it inherits every rate and overrides what it redefines (F11);
    a reseller's plan has the plan it buys on as parent and adds markups
    per destination group (F9)."""
    __name__ = 'telecom.rate.plan'
    name = fields.Char("Name", required=True)
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True)
    service = fields.Selection(SERVICES, "Service", required=True)
    direction = fields.Selection(DIRECTIONS, "Direction", required=True)
    rounding = fields.Selection(
        ROUNDINGS, "Rounding", required=True,
        help="How the cost of a call is rounded, once, at the end.")
    decimals = fields.Integer(
        "Decimals", required=True,
        domain=[('decimals', '>=', 0), ('decimals', '<=', 6)],
        help="The decimals a call's cost is rounded to.")
    # Readable by the owner's telecom administrators only (F2): a
    # reseller's plan points to the plan it buys on, which is its parent's.
    parent = fields.Many2One(
        'telecom.rate.plan', "Parent Plan", ondelete='RESTRICT',
        domain=[
            ('service', '=', Eval('service')),
            ('direction', '=', Eval('direction')),
            ],
        help="Every rate of the parent applies unless this plan redefines "
        "its prefix; markups apply to the inherited prices.")
    markups = fields.One2Many(
        'telecom.rate.plan.markup', 'plan', "Markups")
    rates = fields.One2Many('telecom.rate', 'plan', "Rates")
    bundles = fields.One2Many('telecom.bundle', 'plan', "Bundles")
    signup = fields.Boolean(
        "Offered on Sign-up",
        help="Shown to new customers of the tenant's brand (F35).")

    default_company = staticmethod(default_company)

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_service(cls):
        return 'voice'

    @classmethod
    def default_direction(cls):
        return 'outbound'

    @classmethod
    def default_rounding(cls):
        return 'half-up'

    @classmethod
    def default_decimals(cls):
        return 4

    @classmethod
    def default_signup(cls):
        return False

    @classmethod
    def validate_fields(cls, plans, field_names):
        super().validate_fields(plans, field_names)
        for plan in plans:
            parent = plan.parent
            if not parent:
                continue
            if (parent.service, parent.direction) != (
                    plan.service, plan.direction):
                raise ValidationError(gettext(
                        'telecom_rating.msg_plan_parent_kind',
                        plan=plan.name))
            # A plan inherits within its tenant (F11) or from its tenant's
            # parent (a reseller marking up what it buys).
            if parent.company not in {plan.company, plan.company.parent}:
                raise ValidationError(gettext(
                        'telecom_rating.msg_plan_parent_tenant',
                        plan=plan.name))
            walker, seen = parent, {plan.id}
            while walker:
                if walker.id in seen:
                    raise ValidationError(gettext(
                            'telecom_rating.msg_plan_parent_cycle',
                            plan=plan.name))
                seen.add(walker.id)
                walker = walker.parent


class Markup(TariffChangeMixin, ModelSQL, ModelView):
    """Markup

    What a plan adds to its parent's price for a destination group (F9).
    Without group: every destination that has no markup of its own."""
    __name__ = 'telecom.rate.plan.markup'
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='CASCADE')
    group = fields.Many2One(
        'telecom.destination.group', "Destination Group",
        ondelete='CASCADE')
    percent = fields.Numeric(
        "Percent", digits=(16, 4), required=True,
        help="Added to the parent's price per minute and connect fee.")
    per_minute = fields.Numeric(
        "Per Minute", digits=PRICE_DIGITS, required=True,
        help="A fixed amount added to each charged minute, in the plan's "
        "currency.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('plan_group_unique', Unique(t, t.plan, t.group),
                'telecom_rating.msg_markup_unique'),
            ]
        cls.__access__.add('plan')

    @classmethod
    def default_percent(cls):
        return Decimal(0)

    @classmethod
    def default_per_minute(cls):
        return Decimal(0)


class PrefixMixin:
    """Models keyed by a dialled-number prefix: E.164 digits, a leading +
    dropped as it is typed"""
    __slots__ = ()
    prefix = fields.Char(
        "Prefix", required=True, strip=True,
        help="The E.164 digits the numbers start with.")

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('prefix'):
            values['prefix'] = values['prefix'].lstrip('+')
        return values

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        for record in records:
            check_digits(cls, 'prefix', record.prefix)


class RateMixin(PrefixMixin):
    """The columns of a price for a prefix, shared by a plan's selling rates
    and a carrier's buying rates: the rating engine reads both alike."""
    __slots__ = ()
    destination = fields.Char("Destination")
    price = fields.Numeric(
        "Price per Minute", digits=PRICE_DIGITS, required=True,
        domain=[('price', '>=', 0)])
    connect_fee = fields.Numeric(
        "Connect Fee", digits=PRICE_DIGITS, required=True,
        domain=[('connect_fee', '>=', 0)])
    min_duration = fields.Integer(
        "Minimum Duration", required=True,
        domain=[('min_duration', '>=', 0)],
        help="Seconds billed at least for an answered call.")
    increment_first = fields.Integer(
        "First Increment", required=True,
        domain=[('increment_first', '>=', 1)],
        help="Seconds charged for the start of a call (60 in 60/60).")
    increment_next = fields.Integer(
        "Next Increments", required=True,
        domain=[('increment_next', '>=', 1)],
        help="Seconds of each further step (6 in 30/6).")
    valid_from = fields.DateTime(
        "Valid From",
        help="Leave empty for no start: load next month's prices ahead.")
    valid_to = fields.DateTime(
        "Valid To",
        domain=[If(Eval('valid_to') & Eval('valid_from'),
                ('valid_to', '>', Eval('valid_from')), ())])
    priority = fields.Integer(
        "Priority", required=True,
        help="Among rates of one prefix valid at a call's start, the "
        "highest priority wins.")
    time_band = fields.Many2One(
        'telecom.time_band', "Time Band", ondelete='RESTRICT',
        help="Leave empty for a rate that applies at all times.")

    @classmethod
    def default_connect_fee(cls):
        return Decimal(0)

    @classmethod
    def default_min_duration(cls):
        return 0

    @classmethod
    def default_increment_first(cls):
        return 1

    @classmethod
    def default_increment_next(cls):
        return 1

    @classmethod
    def default_priority(cls):
        return 0


class Rate(RateMixin, TariffChangeMixin, ModelSQL, ModelView):
    "Rate"
    __name__ = 'telecom.rate'
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('plan')
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.plan, Index.Range()), (t.prefix, Index.Equality())))
        cls._order = [('plan', 'ASC'), ('prefix', 'ASC'),
            ('valid_from', 'ASC NULLS FIRST'), ('id', 'ASC')]


class Bundle(TariffChangeMixin, ModelSQL, ModelView):
    """Bundle

    Minutes included each month in a plan, on some destination groups (F14).
    Used before money; what is left rolls over for one month."""
    __name__ = 'telecom.bundle'
    plan = fields.Many2One(
        'telecom.rate.plan', "Plan", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True)
    minutes = fields.Integer(
        "Minutes per Month", required=True, domain=[('minutes', '>=', 0)])
    groups = fields.Many2Many(
        'telecom.bundle-telecom.destination.group', 'bundle', 'group',
        "Destination Groups",
        help="The destinations whose calls use the bundle.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('plan')


class BundleGroup(TariffChangeMixin, ModelSQL):
    "Bundle - Destination Group"
    __name__ = 'telecom.bundle-telecom.destination.group'
    bundle = fields.Many2One(
        'telecom.bundle', "Bundle", required=True, ondelete='CASCADE')
    group = fields.Many2One(
        'telecom.destination.group', "Group", required=True,
        ondelete='CASCADE')


class BundleBalance(ModelSQL, ModelView):
    """Bundle Balance

    The seconds of one bundle left to one account for one month: this
    month's allowance, and last month's unused allowance carried over
    once. Rating spends the carried seconds first."""
    __name__ = 'telecom.bundle.balance'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE')
    bundle = fields.Many2One(
        'telecom.bundle', "Bundle", required=True, ondelete='CASCADE')
    month = fields.Date("Month", required=True,
        help="The first day of the month.")
    carried = fields.Integer("Carried Seconds", required=True)
    current = fields.Integer("Current Seconds", required=True,
        help="What is left of this month's allowance.")
    used = fields.Integer("Used Seconds", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_bundle_month_unique',
                Unique(t, t.account, t.bundle, t.month),
                'telecom_rating.msg_bundle_balance_unique'),
            ]
        cls.__access__.add('account')
        cls._order = [('month', 'DESC'), ('id', 'DESC')]

    @classmethod
    def for_month(cls, month, keys):
        """Return {(account, bundle): balance} of ``month`` for ``keys``,
        opening the month where needed: this month's allowance, plus what
        was left of last month's allowance (carried once, then it expires).
        """
        pool = Pool()
        Bundle_ = pool.get('telecom.bundle')
        accounts = list({k[0] for k in keys})
        bundles = list({k[1] for k in keys})
        previous_month = (month - dt.timedelta(days=1)).replace(day=1)
        found = {}
        for balance in cls.search([
                    ('month', 'in', [month, previous_month]),
                    ('account', 'in', accounts),
                    ('bundle', 'in', bundles),
                    ]):
            found[(balance.account.id, balance.bundle.id, balance.month)] = (
                balance)
        to_create = []
        allowance = {b.id: b.minutes * 60 for b in Bundle_.browse(bundles)}
        for account, bundle in keys:
            if (account, bundle, month) in found:
                continue
            last = found.get((account, bundle, previous_month))
            to_create.append({
                    'account': account, 'bundle': bundle, 'month': month,
                    'carried': last.current if last else 0,
                    'current': allowance[bundle], 'used': 0,
                    })
        for balance in cls.create(to_create):
            found[(balance.account.id, balance.bundle.id, month)] = balance
        return {k: found[(*k, month)] for k in keys}

    @classmethod
    def spend(cls, balances, used):
        "Take ``used`` {key: seconds} from ``balances``, carried ones first"
        to_write = []
        for key, seconds in used.items():
            balance = balances[key]
            from_carried = min(seconds, balance.carried)
            to_write.extend([[balance], {
                        'carried': balance.carried - from_carried,
                        'current': balance.current - (seconds - from_carried),
                        'used': balance.used + seconds,
                        }])
        if to_write:
            cls.write(*to_write)
