"""What a page shows of its brand (F34) and how amounts, call lengths and
times are written.

The brand is ``telecom.brand`` of telecom_billing, resolved by
``Brand.resolve(host, account)``: the signed-in account's plan first, then
its tenant's default brand, then the Host header. A reseller signed in sees
its own default brand. Without any brand the page names the tenant's
company — never a parent's.
"""
import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from trytond.pool import Pool
from trytond.transaction import Transaction

from .scope import due_date, invoice_status  # noqa: F401 (templates)

COLOUR = re.compile(r'^#[0-9a-fA-F]{6}$')


@dataclass(frozen=True)
class BrandView:
    name: str
    primary_colour: str = '#1f3a5f'
    secondary_colour: str = '#e8eef5'
    has_logo: bool = False
    support_email: str = ''
    support_phone: str = ''
    website: str = ''
    email_from: str = ''
    company: int = None
    record: int = None


def _colour(value, default):
    # Colours go into a <style> block: only #rrggbb may pass.
    return value if value and COLOUR.match(value) else default


def brand_record(host, ctx):
    "The telecom.brand of the request, or None"
    pool = Pool()
    try:
        Brand = pool.get('telecom.brand')
    except KeyError:
        return None
    account = None
    company = None
    if ctx is not None and ctx.kind == 'customer':
        account = ctx.scope.account
    elif ctx is not None and ctx.kind == 'reseller':
        company = ctx.scope.company_id
    if company is not None:
        brands = Brand.search([
                ('company', '=', company), ('default', '=', True)], limit=1)
        return brands[0] if brands else None
    return Brand.resolve(host=host, account=account)


def resolve(host, ctx=None):
    record = brand_record(host, ctx)
    if record is not None:
        return BrandView(
            name=record.name,
            primary_colour=_colour(record.primary_colour, '#1f3a5f'),
            secondary_colour=_colour(record.secondary_colour, '#e8eef5'),
            has_logo=bool(record.logo_id or record.logo),
            support_email=record.support_email or '',
            support_phone=record.support_phone or '',
            website=record.website or '',
            email_from=record.email_from or '',
            company=record.company.id, record=record.id)
    Company = Pool().get('company.company')
    company_id = None
    if ctx is not None and ctx.scope is not None:
        company_id = ctx.scope.company_id
    else:
        company_id = Transaction().context.get('company')
    if company_id is not None:
        return BrandView(name=Company(company_id).party.name,
            company=company_id)
    return BrandView(name="Customer portal")


def duration(seconds):
    "Seconds as h:mm:ss, how a call's length is read (3725 → 1:02:05)"
    if seconds is None:
        return ''
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02}:{seconds:02}'


def time_zone(account):
    "The name of the time zone the account's tenant works in (UTC unset)"
    return account.company.timezone or 'UTC'


def local_time(moment, zone):
    "A stored instant (naive UTC) as read in ``zone``"
    if moment is None:
        return ''
    moment = moment.replace(tzinfo=dt.timezone.utc).astimezone(
        ZoneInfo(zone))
    return moment.strftime('%Y-%m-%d %H:%M:%S')


def call_digits(account):
    """The decimals of the account's call prices: those its plans round
    calls to (the most precise of them), 4 without a plan"""
    return max((plan.decimals for plan in account.rate_plans
            if plan.decimals is not None), default=4)


def money(amount, currency=None, digits=None):
    """An amount as the customer reads it: the currency's digits (rounded
    half-even, as Tryton rounds invoices), then its code."""
    if amount is None:
        return ''
    if digits is None:
        digits = currency.digits if currency is not None else 2
    quantum = Decimal(1).scaleb(-digits)
    text = f'{Decimal(amount).quantize(quantum, ROUND_HALF_EVEN):,}'
    return f'{text} {currency.code}' if currency is not None else text
