"""Billing runs: a tenant's draft invoices for a period (F27).

A run reads, in SQL, the current rated charges its tenant sells (seller =
the tenant) to the accounts it bills (``_billed_modes``: postpaid ones;
prepaid ones too where telecom_payment settles their invoices from the
balance) — customers and resellers' own accounts alike — that no run has
billed yet and whose call started before
the end of the period, grouped per buyer account, plan, destination and
currency. A charge that replaces a version already billed (re-rating, F16)
is grouped apart and billed as the difference: a debit or credit line. The
run then adds the feature extras and the other charges of each account,
converts into the account's currency at the invoice date, applies the
products' taxes less the account's exemptions and saves one draft invoice
per account. Finally it claims the charges it billed: one INSERT of
(charge, run, account) rows into ``telecom_cdr_charge_billed`` (cdr.py).

Runs of a tenant never overlap and never touch a closed fiscal period:
such a run is refused before anything is written. A run holds the rating
lock, so no charge is rated or re-rated between its reading and its
claiming.
"""
import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

from sql import Column, Conflict, Literal
from sql.aggregate import Count, Max, Sum

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.modules.account.tax import _TaxableLine
from trytond.modules.telecom_base.balance import to_decimal
from trytond.modules.telecom_base.locking import advisory_lock
from trytond.modules.telecom_rating.cdr import (
    bulk_insert, forget_cached, utc_now)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from .cdr import billed_before, billed_table, is_billed
from .exceptions import BillingError
from .recurring import (
    ONE_DAY, active_days, charge_period, extra_units, periods_ending_in,
    periods_within, prorate)

STATES = [
    ('done', "Done"),
    ('cancelled', "Cancelled"),
    ]
MICRO = Decimal('0.000001')
# Accounts invoiced per create: bounded memory, a progress line per chunk.
CHUNK = 500
logger = logging.getLogger(__name__)


def line_tax_ids(actions):
    "The tax ids that the actions of a line's ``taxes`` value add"
    return [id_ for action, ids in actions if action == 'add' for id_ in ids]


def new_ids(Model, count):
    """``count`` new ids of ``Model``'s table, taken as ``create`` would:
    from its sequence on PostgreSQL; on SQLite after the highest ever
    given (the run holds the database's write lock)."""
    transaction = Transaction()
    if not count:
        return []
    ids = transaction.database.nextid(
        transaction.connection, Model._table, count=count)
    if ids is not None:
        return [ids] if count == 1 else ids
    cursor = transaction.connection.cursor()
    table = Model.__table__()
    cursor.execute(*table.select(Max(table.id)))
    last = cursor.fetchone()[0] or 0
    cursor.execute('SELECT seq FROM sqlite_sequence WHERE name = ?',
        (Model._table,))
    row = cursor.fetchone()
    last = max(last, row[0] if row else 0)
    return list(range(last + 1, last + 1 + count))


def insert_records(Model, vlist):
    """Store ``vlist`` (values of new ``Model`` records) in bulk and return
    their ids: the columns and the default values that ``ModelSQL.create``
    would store, without its per-record validation and hooks — for values
    already built as the ORM would get them. Relation fields (one2many,
    many2many) are left out: their rows are the caller's."""
    if not vlist:
        return []
    table = Model.__table__()
    ids = new_ids(Model, len(vlist))
    user, now = Transaction().user, utc_now()
    given = set().union(*vlist)
    skip = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date'}
    stored = sorted(name for name, field in Model._fields.items()
        if not hasattr(field, 'set') and name not in skip)
    # A field missing from some values takes its default, as in create.
    defaults = Model._clean_defaults(
        Model.default_get(stored, with_rec_name=False))
    names = [n for n in stored if n in given or n in defaults]
    fields_ = [Model._fields[n] for n in names]
    columns = [table.id, table.create_uid, table.create_date] + [
        Column(table, n) for n in names]
    bulk_insert(table, columns, (
            [id_, user, now] + [
                field.sql_format(
                    values[name] if name in values else defaults.get(name))
                for name, field in zip(names, fields_)]
            for id_, values in zip(ids, vlist)))
    return ids


def previous_month(today):
    "The first and last day of the month before ``today``"
    end = today.replace(day=1) - ONE_DAY
    return end.replace(day=1), end


class BillingRun(Workflow, ModelSQL, ModelView):
    "Billing Run"
    __name__ = 'telecom.billing.run'
    company = fields.Many2One(
        'company.company', "Tenant", required=True, readonly=True,
        ondelete='RESTRICT',
        help="The tenant that invoices its customers and resellers.")
    start_date = fields.Date("Start Date", required=True, readonly=True)
    end_date = fields.Date("End Date", required=True, readonly=True)
    invoice_date = fields.Date("Invoice Date", required=True, readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    invoices = fields.One2Many(
        'account.invoice', 'telecom_run', "Invoices", readonly=True)
    calls = fields.Integer(
        "Charges Billed", readonly=True,
        help="How many rated call charges the run billed, adjustments "
        "included.")
    skipped = fields.Text(
        "Skipped Accounts", readonly=True,
        help="The accounts the run could not invoice, each with why. Their "
        "calls and charges stay unbilled: fix the account and the next run "
        "bills them.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {('done', 'cancelled')}
        cls._buttons.update({
                'cancel': {
                    'invisible': Eval('state') != 'done',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'done'

    def get_rec_name(self, name):
        return f'{self.company.rec_name} {self.start_date} – {self.end_date}'

    # --- checks --------------------------------------------------------

    @classmethod
    def check_period(cls, company, start_date, end_date, invoice_date):
        "Refuse a run that would bill twice or write in a closed period"
        pool = Pool()
        Period = pool.get('account.period')
        if start_date > end_date:
            raise BillingError(gettext(
                    'telecom_billing.msg_run_dates',
                    start=start_date, end=end_date))
        closed = Period.search([
                ('fiscalyear.company', '=', company.id),
                ('type', '=', 'standard'),
                ('state', '!=', 'open'),
                ['OR', [
                        ('start_date', '<=', end_date),
                        ('end_date', '>=', start_date),
                        ], [
                        ('start_date', '<=', invoice_date),
                        ('end_date', '>=', invoice_date),
                        ]],
                ], limit=1)
        if closed:
            period, = closed
            raise BillingError(gettext(
                    'telecom_billing.msg_run_period_closed',
                    period=period.rec_name, start=start_date, end=end_date,
                    invoice_date=invoice_date))
        runs = cls.search([
                ('company', '=', company.id),
                ('state', '=', 'done'),
                ('start_date', '<=', end_date),
                ('end_date', '>=', start_date),
                ], limit=1)
        if runs:
            run, = runs
            raise BillingError(gettext(
                    'telecom_billing.msg_run_already_invoiced',
                    company=company.rec_name, start=start_date,
                    end=end_date, run_start=run.start_date,
                    run_end=run.end_date))

    # --- the run -------------------------------------------------------

    @classmethod
    def _billed_modes(cls):
        """The billing modes of the accounts a run invoices. Postpaid only
        here: a prepaid account's calls were already debited from its
        balance, so its invoice must be paid from it — telecom_payment
        adds prepaid accounts and settles their invoices."""
        return ['postpaid']

    @classmethod
    def _billed(cls, account, company):
        "The SQL condition on ``account`` (a table) of the accounts billed"
        return ((account.company == company.id)
            & account.billing_mode.in_(cls._billed_modes()))

    @classmethod
    def bill(cls, company, start_date, end_date, invoice_date=None):
        """Invoice ``company``'s billed accounts for the period and
        return the run. Raise BillingError, having written nothing, when
        the period cannot be billed."""
        pool = Pool()
        User = pool.get('res.user')
        Company = pool.get('company.company')
        transaction = Transaction()
        company = Company(int(company))
        if invoice_date is None:
            invoice_date = end_date + ONE_DAY
        if (transaction.user and transaction.check_access
                and company.id not in User.get_companies()):
            raise BillingError(gettext(
                    'telecom_billing.msg_run_company',
                    company=company.rec_name))
        with without_check_access(), \
                transaction.set_context(company=company.id):
            # The rating lock: nothing is rated, re-rated or billed by
            # another run between what this run reads and what it claims.
            advisory_lock('telecom.cdr.rating')
            cls.check_period(company, start_date, end_date, invoice_date)
            run = cls(company=company, start_date=start_date,
                end_date=end_date, invoice_date=invoice_date)
            return run._bill()

    def _bill(self):
        pool = Pool()
        Account = pool.get('telecom.account')
        Configuration = pool.get('telecom.billing.configuration')
        config = Configuration(1)
        ctx = SimpleNamespace(
            usage_product=config.get_multivalue(
                'usage_product', company=self.company.id),
            feature_product=config.get_multivalue(
                'feature_product', company=self.company.id),
            # Memos of the run: what a product gives a line per tax rule,
            # the rates between two currencies, the names of the plans.
            products={}, rates={}, plans={}, journal=None,
            taxes={}, tax_rounding=None,
            # {account id: why}: accounts that cannot be invoiced are
            # left out, and the others billed.
            skipped={})

        usage = self._usage()
        accounts = Account.search([
                ('company', '=', self.company.id),
                ('billing_mode', 'in', self._billed_modes()),
                ], order=[('code', 'ASC'), ('id', 'ASC')])
        self.calls = sum(row[4] for rows in usage.values() for row in rows)
        self.save()
        invoiced = 0
        for i in range(0, len(accounts), CHUNK):
            # The records of one chunk are read together and forgotten
            # after: the memory of a run does not grow with its size.
            chunk = Account.browse([a.id for a in accounts[i:i + CHUNK]])
            invoiced += len(self._create_invoices(ctx, chunk, usage))
            logger.info("%s: %d/%d accounts, %d invoices",
                self.rec_name, min(i + CHUNK, len(accounts)), len(accounts),
                invoiced)
        forget_cached(*(pool.get(m) for m in [
                    'account.invoice', 'account.invoice.line',
                    'account.invoice.tax']))
        if ctx.skipped:
            self.calls -= sum(row[4] for account in ctx.skipped
                for row in usage.get(account, []))
            names = {a.id: a.rec_name for a in Account.browse(
                    list(ctx.skipped))}
            self.skipped = '\n'.join(f'{names[a]}: {reason}'
                for a, reason in sorted(ctx.skipped.items()))
            self.save()
        self._claim(self.calls, skipped=list(ctx.skipped))
        return self

    def _create_invoices(self, ctx, accounts, usage):
        """Write and return the ids of the draft invoices of ``accounts``
        (a chunk of the tenant's billed accounts) in bulk SQL: the
        invoices, their lines, the lines' taxes and the invoices' taxes,
        each in multi-row INSERTs (COPY on PostgreSQL), holding what
        Tryton's ``Invoice.create`` and ``update_taxes`` would store —
        tests/test_run_sql.py proves it, field by field."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        InvoiceTax = pool.get('account.invoice.tax')
        lines = self._invoice_lines(ctx, accounts, usage)
        invoiced = []
        for account in accounts:
            if not lines.get(account):
                continue
            reason = self._cannot_invoice(account)
            if reason:
                logger.warning("%s: %s skipped: %s",
                    self.rec_name, account.rec_name, reason)
                ctx.skipped[account.id] = reason
            else:
                invoiced.append(account)
        invoice_ids = insert_records(
            Invoice, [self._invoice_values(ctx, a) for a in invoiced])
        vlist, taxes = [], []
        for invoice_id, account in zip(invoice_ids, invoiced):
            for values in lines[account]:
                values = {**values, 'invoice': invoice_id}
                taxes.append(line_tax_ids(values.pop('taxes', [])))
                vlist.append(values)
        self._add_line_taxes(zip(insert_records(InvoiceLine, vlist), taxes))
        insert_records(InvoiceTax, [tax
                for invoice_id, account in zip(invoice_ids, invoiced)
                for tax in self._invoice_taxes(
                    ctx, invoice_id, account, lines[account])])
        return invoice_ids

    def _invoice_lines(self, ctx, accounts, usage):
        "Return {account: [invoice line values]} of ``accounts``"
        lines = defaultdict(list)
        for found in [
                self._feature_lines(ctx, accounts),
                self._charge_lines(ctx, accounts),
                self._usage_lines(ctx, accounts, usage),
                self._extra_lines(ctx, accounts),
                ]:
            for account, values in found.items():
                lines[account].extend(values)
        return lines

    def _invoice_taxes(self, ctx, invoice_id, account, lines):
        """The values of the ``account.invoice.tax`` rows of the invoice
        ``invoice_id`` of ``account`` with ``lines`` (line values): what
        ``Invoice._compute_taxes`` gives. Its loop (``TaxableMixin.
        _get_taxes``) is followed step by step on the invoice in memory —
        lines grouped per taxes and sign, Tryton's ``Tax.compute``,
        ``_compute_tax_line`` and ``_round_taxes``, per line or per
        document as the company's ``tax_rounding`` says — with one change:
        the taxes are browsed once per run, not once per line (a fresh
        browse reads their children again: 70 % of the run's CPU)."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Tax = pool.get('account.tax')
        AccountConfiguration = pool.get('account.configuration')
        invoice = Invoice(
            company=self.company, type='out', party=account.party,
            currency=account.currency, invoice_date=self.invoice_date,
            accounting_date=None)
        invoice.party_lang = invoice.on_change_with_party_lang()
        context = invoice._get_tax_context()
        all_taxes = {}
        with Transaction().set_context(context):
            if ctx.tax_rounding is None:
                ctx.tax_rounding = AccountConfiguration(1).get_multivalue(
                    'tax_rounding', company=self.company.id)
            groups = defaultdict(list)
            for values in lines:
                if values['type'] != 'line':
                    continue
                key = (tuple(line_tax_ids(values.get('taxes', []))),
                    context.get('language'))
                if key not in ctx.taxes:
                    ctx.taxes[key] = Tax.browse(key[0])
                taxable = _TaxableLine(ctx.taxes[key],
                    values['unit_price'] or Decimal(0),
                    values['quantity'] or 0, invoice.tax_date)
                groups[taxable._key].append(taxable)
            for grouped in groups.values():
                taxes = {}
                for line in grouped:
                    current = {}
                    for tax in Tax.compute(line.taxes, line.unit_price,
                            line.quantity, line.tax_date):
                        taxline = invoice._compute_tax_line(**tax)
                        # As Tryton's: a line's second row of a key
                        # replaces its first.
                        current[taxline._key] = taxline
                    if ctx.tax_rounding == 'line':
                        invoice._round_taxes(current)
                    for key, taxline in current.items():
                        if key not in taxes:
                            taxes[key] = taxline
                        else:
                            taxes[key] += taxline
                if ctx.tax_rounding == 'document':
                    invoice._round_taxes(taxes)
                for key, taxline in taxes.items():
                    if key not in all_taxes:
                        all_taxes[key] = taxline
                    else:
                        all_taxes[key] += taxline
        result = []
        for taxline in all_taxes.values():
            values = dict(taxline.values())
            values.update({
                    'invoice': invoice_id,
                    'manual': False,
                    'description': taxline.tax.description,
                    'legal_notice': taxline.tax.legal_notice,
                    })
            result.append(values)
        return result

    @classmethod
    def _add_line_taxes(cls, line_taxes):
        "Link each line of (line id, [tax id]) to its taxes"
        pool = Pool()
        LineTax = pool.get('account.invoice.line-account.tax')
        table = LineTax.__table__()
        user, now = Transaction().user, utc_now()
        bulk_insert(table,
            [table.line, table.tax, table.create_uid, table.create_date],
            [[line, tax, user, now]
                for line, taxes in line_taxes for tax in taxes])

    def _extra_lines(self, ctx, accounts):
        """Return {account: [invoice line values]}: what other modules add
        to the run's invoices of ``accounts`` (a chunk of the accounts the
        tenant bills, up to CHUNK: see ``_billed_modes``) for the run's
        period. Extend it by inheritance, in bulk (one query for the chunk,
        not one per account), and build each line with
        ``self._line(ctx, …)`` so that it takes its product's revenue
        account and taxes less the account's exemptions, and its unit price
        in the account's currency
        (see ``self._unit_price`` and ``self._rounded``)."""
        return {}

    def _invoice_values(self, ctx, account):
        "The values of the draft invoice of ``account``"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        if ctx.journal is None:
            invoice = Invoice(type='out', company=self.company)
            invoice.set_journal()
            ctx.journal = invoice.journal
        party = account.party
        values = {
            'company': self.company.id,
            'type': 'out',
            'party': party.id,
            'invoice_date': self.invoice_date,
            'currency': account.currency.id,
            'journal': ctx.journal.id if ctx.journal else None,
            'description': gettext('telecom_billing.msg_invoice_description',
                start=self.start_date, end=self.end_date),
            'telecom_run': self.id,
            'telecom_account': account.id,
            # Only a conversion has a rate: a same-currency invoice said
            # "Rate 1 EUR = 1.000000 EUR".
            'telecom_currency_rate': self._convert(
                ctx, account, Decimal(1), self.company.currency
                ).quantize(MICRO)
            if account.currency != self.company.currency else None,
            }
        receivable = party.account_receivable_used
        address = party.address_get(type='invoice')
        payment_term = party.customer_payment_term
        values.update({
                'account': receivable.id,
                'invoice_address': address.id,
                'payment_term': payment_term.id if payment_term else None,
                })
        return values

    @classmethod
    def _cannot_invoice(cls, account):
        """Why an invoice of ``account`` cannot be made — what its party
        lacks — or None. Such an account is skipped by the run, not the
        whole run refused."""
        party = account.party
        if not party.account_receivable_used:
            return gettext('telecom_billing.msg_no_receivable',
                party=party.rec_name, account=account.rec_name)
        if not party.address_get(type='invoice'):
            return gettext('telecom_billing.msg_no_invoice_address',
                party=party.rec_name, account=account.rec_name)

    def _convert(self, ctx, account, amount, currency):
        """``amount`` of ``currency`` in ``account``'s currency at the
        invoice date, unrounded: Tryton's formula (amount × to rate ÷ from
        rate) with the rates read once per pair of currencies."""
        pool = Pool()
        Currency = pool.get('currency.currency')
        if currency == account.currency:
            return amount
        key = (currency.id, account.currency.id)
        if key not in ctx.rates:
            with Transaction().set_context(date=self.invoice_date):
                source, target = Currency.browse(key)
                ctx.rates[key] = (source.rate, target.rate)
        source_rate, target_rate = ctx.rates[key]
        if not source_rate or not target_rate:
            raise BillingError(gettext(
                    'telecom_billing.msg_no_rate',
                    account=account.rec_name,
                    currency=account.currency.code,
                    source=currency.code, date=self.invoice_date))
        return amount * target_rate / source_rate

    def _unit_price(self, ctx, account, amount, currency):
        "A converted unit price, at Tryton's price digits"
        return self._price_digits(
            self._convert(ctx, account, amount, currency))

    def _rounded(self, ctx, account, amount, currency):
        "A converted amount rounded once, to the invoice currency's digits"
        return self._price_digits(account.currency.round(
                self._convert(ctx, account, amount, currency)))

    @classmethod
    def _price_digits(cls, value):
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        digits = InvoiceLine.unit_price.digits[1]
        return value.quantize(Decimal(1).scaleb(-digits))

    def _product_values(self, ctx, account, product):
        """What ``product`` gives a line of ``account``'s invoice: revenue
        account, taxes through the party's tax rule, unit. Tryton's
        on_change_product runs once per product and tax rule, not once
        per line."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        party = account.party
        key = (product.id, party.customer_tax_rule)
        if key not in ctx.products:
            invoice = Invoice(
                company=self.company, type='out', party=party,
                currency=account.currency, invoice_date=self.invoice_date)
            line = InvoiceLine(invoice=invoice, type='line', product=product)
            line.on_change_invoice()
            line.on_change_product()
            if not line.account:
                raise BillingError(gettext(
                        'telecom_billing.msg_no_revenue_account',
                        product=product.rec_name))
            ctx.products[key] = (
                line.account.id, [t.id for t in line.taxes], line.unit.id)
        return ctx.products[key]

    def _line(self, ctx, account, product, kind, quantity, unit_price,
            description, period, origin=None, **values):
        """The values of an invoice line of ``account``: ``unit_price`` is
        in the account's currency; the taxes are the product's less the
        account's exemptions."""
        revenue, taxes, unit = self._product_values(ctx, account, product)
        if account.tax_exemptions:
            exempt = {t.id for t in account.tax_exemptions}
            taxes = [t for t in taxes if t not in exempt]
        return {
            'type': 'line',
            'company': self.company.id,
            'currency': account.currency.id,
            'invoice_type': 'out',
            'product': product.id,
            'account': revenue,
            'unit': unit,
            'quantity': quantity,
            'unit_price': unit_price,
            'taxes': [('add', taxes)],
            'description': description,
            'origin': str(origin) if origin else None,
            'telecom_kind': kind,
            'telecom_period_start': period[0],
            'telecom_period_end': period[1],
            **values,
            }

    def _feature_prices(self, accounts):
        """Return {account: [feature price]}: the price of each feature of
        ``accounts``, their own before their plans', by feature code"""
        pool = Pool()
        FeaturePrice = pool.get('telecom.feature.price')
        plans = {p.id for a in accounts for p in a.rate_plans}
        prices = FeaturePrice.search([
                ('company', '=', self.company.id),
                ['OR',
                    ('account', 'in', [a.id for a in accounts]),
                    [('account', '=', None), ('plan', 'in', list(plans))],
                    ],
                ], order=[('account', 'ASC NULLS LAST'), ('id', 'ASC')])
        own, of_plan = defaultdict(list), defaultdict(list)
        for price in prices:
            if price.account:
                own[price.account.id].append(price)
            else:
                of_plan[price.plan.id].append(price)
        result = {}
        for account in accounts:
            plan_ids = {p.id for p in account.rate_plans}
            by_feature = {}
            for price in own[account.id] + sorted(
                    (p for plan in plan_ids for p in of_plan[plan]),
                    key=lambda p: p.id):
                by_feature.setdefault(price.feature, price)
            result[account] = sorted(
                by_feature.values(), key=lambda p: p.feature.code)
        return result

    def _services(self, prices, accounts):
        """Return {(model, account id): [(start, end)]}: the services each
        feature of ``prices`` counts, active in its periods of the run."""
        pool = Pool()
        windows = {}
        for account_prices in prices.values():
            for price in account_prices:
                model = price.feature.counts
                for first, last in periods_ending_in(
                        price.recurrence, self.start_date, self.end_date):
                    if model:
                        start, end = windows.get(model, (first, last))
                        windows[model] = (min(start, first), max(end, last))
        result = defaultdict(list)
        for model, (first, last) in windows.items():
            Service = pool.get(model)
            for service in Service.search([
                        ('account', 'in', [a.id for a in accounts]),
                        ['OR', ('start_date', '=', None),
                            ('start_date', '<=', last)],
                        ['OR', ('end_date', '=', None),
                            ('end_date', '>=', first)],
                        ], order=[]):
                result[model, service.account.id].append(
                    (service.start_date, service.end_date))
        return result

    def _feature_lines(self, ctx, accounts):
        prices = self._feature_prices(accounts)
        services = self._services(prices, accounts)
        result = {}
        for account in accounts:
            result[account] = self._feature_lines_of(
                ctx, account, prices[account], services)
        return result

    def _feature_lines_of(self, ctx, account, prices, services):
        limits = {l.feature: l for l in account.feature_limits}
        lines = []
        for price in prices:
            feature = price.feature
            product = price.product or ctx.feature_product
            if not product:
                raise BillingError(gettext(
                        'telecom_billing.msg_no_feature_product',
                        company=self.company.rec_name,
                        feature=feature.rec_name))
            limit = limits.get(feature)
            included = limit.included if limit else price.included
            maximum = price.maximum
            if limit and limit.maximum is not None:
                maximum = (limit.maximum if maximum is None
                    else min(maximum, limit.maximum))
            for period in periods_ending_in(
                    price.recurrence, self.start_date, self.end_date):
                if feature.counts:
                    intervals = [(start, end)
                        for start, end in services[feature.counts, account.id]
                        if (start is None or start <= period[1])
                        and (end is None or end >= period[0])]
                else:
                    intervals = [(None, None)] * (
                        (limit.manual_used or 0) if limit else 0)
                units = extra_units(period, intervals, included, maximum)
                days = (period[1] - period[0]).days + 1
                full = sum(1 for d in units if d == days)
                if full:
                    lines.append(self._line(ctx,
                            account, product, 'feature', full,
                            self._unit_price(
                                ctx, account, price.price, price.currency),
                            gettext('telecom_billing.msg_line_feature',
                                feature=feature.name, included=included,
                                start=period[0], end=period[1]),
                            period, origin=price))
                for unit_days in units:
                    if unit_days == days:
                        continue
                    lines.append(self._line(ctx,
                            account, product, 'feature', 1,
                            self._rounded(ctx, account, prorate(
                                    price.price, unit_days, days),
                                price.currency),
                            gettext(
                                'telecom_billing.msg_line_feature_prorated',
                                feature=feature.name, days=unit_days,
                                period_days=days, start=period[0],
                                end=period[1]),
                            period, origin=price))
        return lines

    def _charge_lines(self, ctx, accounts):
        pool = Pool()
        AccountCharge = pool.get('telecom.account.charge')
        charges = AccountCharge.search([
                ('account', 'in', [a.id for a in accounts]),
                ('start_date', '<=', self.end_date),
                ], order=[('start_date', 'ASC'), ('id', 'ASC')])
        invoiced_until = AccountCharge.invoiced_until_of(charges)
        by_id = {a.id: a for a in accounts}
        result = defaultdict(list)
        for charge in charges:
            account = by_id[charge.account.id]
            result[account].extend(self._charge_lines_of(
                    ctx, account, charge, invoiced_until[charge.id]))
        return result

    def _charge_lines_of(self, ctx, account, charge, until):
        lines = []
        if charge.recurrence == 'once':
            if until is None:
                lines.append(self._line(ctx,
                        account, charge.product, 'charge',
                        charge.quantity,
                        self._unit_price(
                            ctx, account, charge.amount, charge.currency),
                        charge.description,
                        (charge.start_date, charge.start_date),
                        origin=charge))
            return lines
        # Every period not yet invoiced, from the charge's first one; in
        # advance, up to the end of the period after the run's.
        first, _ = charge_period(charge.recurrence, charge.start_date)
        advance = charge.timing == 'advance'
        last = self.end_date
        if advance:
            last = charge_period(charge.recurrence, last + ONE_DAY)[1]
        # In advance a period may be billed up to an end date and later
        # extended: then only the days after what was billed.
        since = max(charge.start_date, until + ONE_DAY) if (
            advance and until) else charge.start_date
        for period in periods_ending_in(charge.recurrence, first, last):
            if until and period[1] <= until:
                continue
            days = active_days(period, since, charge.end_date)
            period_days = (period[1] - period[0]).days + 1
            if not days:
                continue
            if advance and charge.end_date and charge.end_date < period[1]:
                # What is billed ends with the charge: nothing to credit.
                period = (period[0], charge.end_date)
            if days == period_days:
                lines.append(self._line(ctx,
                        account, charge.product, 'charge',
                        charge.quantity,
                        self._unit_price(
                            ctx, account, charge.amount, charge.currency),
                        gettext('telecom_billing.msg_line_charge',
                            description=charge.description,
                            start=period[0], end=period[1]),
                        period, origin=charge))
            else:
                amount = charge.amount * Decimal(str(charge.quantity))
                lines.append(self._line(ctx,
                        account, charge.product, 'charge', 1,
                        self._rounded(ctx, account,
                            prorate(amount, days, period_days),
                            charge.currency),
                        gettext('telecom_billing.msg_line_charge_prorated',
                            description=charge.description,
                            quantity=charge.quantity, days=days,
                            period_days=period_days, start=period[0],
                            end=period[1]),
                        period, origin=charge))
        if (advance and charge.end_date and until
                and until > charge.end_date):
            # Billed in advance beyond its end: the days after it back.
            amount = charge.amount * Decimal(str(charge.quantity))
            for _, within, days, period_days in periods_within(
                    charge.recurrence, charge.end_date + ONE_DAY, until):
                lines.append(self._line(ctx,
                        account, charge.product, 'charge', 1,
                        self._rounded(ctx, account,
                            -prorate(amount, days, period_days),
                            charge.currency),
                        gettext('telecom_billing.msg_line_charge_credit',
                            description=charge.description,
                            quantity=charge.quantity, days=days,
                            period_days=period_days, start=within[0],
                            end=within[1]),
                        within, origin=charge))
        return lines

    def _usage_lines(self, ctx, accounts, usage):
        pool = Pool()
        Plan = pool.get('telecom.rate.plan')
        Currency = pool.get('currency.currency')
        if not ctx.usage_product and any(usage.get(a.id) for a in accounts):
            raise BillingError(gettext(
                    'telecom_billing.msg_no_usage_product',
                    company=self.company.rec_name))
        plan_ids = {row[0] for a in accounts for row in usage.get(a.id, [])}
        ctx.plans.update((p.id, p.name) for p in Plan.browse(
                list(plan_ids - set(ctx.plans))))
        currencies = {c.id: c for c in Currency.browse(list({
                        row[2] for a in accounts
                        for row in usage.get(a.id, [])}))}
        period = (self.start_date, self.end_date)
        result = {}
        for account in accounts:
            lines = result[account] = []
            for (plan, destination, currency, kind, calls, seconds,
                    amount) in usage.get(account.id, []):
                if not amount:
                    continue
                minutes = Decimal(seconds) / 60
                lines.append(self._line(ctx,
                        account, ctx.usage_product, kind, 1,
                        self._rounded(
                            ctx, account, amount, currencies[currency]),
                        gettext(f'telecom_billing.msg_line_{kind}',
                            destination=destination or '',
                            plan=ctx.plans[plan], calls=calls,
                            minutes=round(minutes, 2)),
                        period, origin=f'telecom.rate.plan,{plan}',
                        telecom_destination=destination,
                        telecom_calls=calls, telecom_seconds=seconds))
        return result

    @classmethod
    def _billable(cls, company, end_date):
        """The current rated charges ``company`` sells to the accounts it
        bills, for calls started up to ``end_date``, billed or not:
        (charge table, FROM, WHERE)."""
        pool = Pool()
        Charge = pool.get('telecom.cdr.charge')
        Cdr = pool.get('telecom.cdr')
        Account = pool.get('telecom.account')
        charge, cdr, account = (
            Charge.__table__(), Cdr.__table__(), Account.__table__())
        before = dt.datetime.combine(end_date + ONE_DAY, dt.time())
        from_ = (charge
            .join(cdr, condition=charge.cdr == cdr.id)
            .join(account, condition=charge.account == account.id))
        where = ((charge.seller == company.id)
            & (charge.current == True)  # noqa: E712
            & (cdr.start < before)
            & cls._billed(account, company))
        return charge, from_, where

    @classmethod
    def _unbilled(cls, company, end_date):
        """The billable charges (``_billable``) that no run billed."""
        charge, from_, where = cls._billable(company, end_date)
        return charge, from_, where & ~is_billed(charge)

    def _usage(self):
        """Return {account id: [(plan, destination, currency, kind, calls,
        seconds, amount)]}: the unbilled usage grouped in SQL, and apart
        the re-rated calls whose previous version was billed, as the
        difference."""
        pool = Pool()
        Charge = pool.get('telecom.cdr.charge')
        cursor = Transaction().connection.cursor()
        result = defaultdict(list)
        for kind in ['usage', 'adjustment']:
            charge, from_, where = self._unbilled(
                self.company, self.end_date)
            if kind == 'adjustment':
                # The difference with the last version billed for the
                # same call and level.
                previous, older, billed = (
                    Charge.__table__(), Charge.__table__(), billed_table())
                last_billed = older.join(billed,
                    condition=billed.charge == older.id).select(
                    Max(older.version),
                    where=(older.cdr == charge.cdr)
                    & (older.level == charge.level))
                from_ = from_.join(previous,
                    condition=(previous.cdr == charge.cdr)
                    & (previous.level == charge.level)
                    & (previous.version == last_billed))
                where &= charge.version > 1
                amount = Sum(charge.amount - previous.amount)
            else:
                # Only a re-rated charge (version > 1) can have a version
                # billed before it: the first version — nearly every
                # charge — is never looked up.
                where &= (charge.version == 1) | ~billed_before(charge)
                amount = Sum(charge.amount)
            cursor.execute(*from_.select(
                    charge.account, charge.plan, charge.destination,
                    charge.currency, Count(charge.id),
                    Sum(charge.charged_seconds), amount,
                    where=where,
                    group_by=[charge.account, charge.plan,
                        charge.destination, charge.currency],
                    order_by=[charge.account, charge.destination,
                        charge.plan, charge.currency]))
            for (account, plan, destination, currency, calls, seconds,
                    total) in cursor:
                # SQLite sums NUMERIC as floating point: six decimals
                # (the charges' digits) bring back the exact sum.
                total = to_decimal(total).quantize(MICRO)
                result[account].append((plan, destination, currency, kind,
                        calls, seconds or 0, total))
        return result

    def _claim(self, calls, skipped=()):
        """Record the ``calls`` charges this run bills — those of the
        accounts not ``skipped`` (ids) — as billed by it: one
        INSERT … SELECT of (charge, run, account) rows, whatever the number
        of calls. The charges and their CDRs are not rewritten (cdr.py).

        The charges already billed are skipped by the primary key (ON
        CONFLICT DO NOTHING) rather than by a NOT EXISTS on the table being
        written: on an analysed empty claim table PostgreSQL planned that
        as a nested loop over the claim table's heap, which grew with the
        INSERT — quadratic, 30 s for 100,000 calls instead of 1 s. The
        index probe is the one the primary key makes anyway. The rating
        lock keeps any other run out; should a row still be skipped that
        the usage counted, the run is refused rather than bill it twice."""
        billed = billed_table()
        charge, from_, where = self._billable(self.company, self.end_date)
        if skipped:
            where &= ~charge.account.in_(list(skipped))
        cursor = Transaction().connection.cursor()
        cursor.execute(*billed.insert(
                [billed.charge, billed.run, billed.account],
                from_.select(charge.id, Literal(self.id), charge.account,
                    where=where),
                on_conflict=Conflict(billed,
                    indexed_columns=[billed.charge])))
        if cursor.rowcount != calls:
            raise BillingError(gettext(
                    'telecom_billing.msg_run_claim_changed',
                    run=self.rec_name, calls=calls, claimed=cursor.rowcount))
        forget_cached(*(Pool().get(m)
                for m in ['telecom.cdr.charge', 'telecom.cdr']))

    # --- undoing -------------------------------------------------------

    @classmethod
    def release(cls, pairs):
        """Give back to billing the charges that ``pairs`` (run, account)
        billed: their invoices were deleted or cancelled."""
        if not pairs:
            return
        billed = billed_table()
        cursor = Transaction().connection.cursor()
        for run_id, account_id in sorted(pairs):
            cursor.execute(*billed.delete(
                    where=(billed.run == run_id)
                    & (billed.account == account_id)))
        forget_cached(*(Pool().get(m)
                for m in ['telecom.cdr.charge', 'telecom.cdr']))

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, runs):
        """Delete the runs' draft invoices, which gives their calls and
        charges back to billing; refused when an invoice went further."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoices = [i for r in runs for i in r.invoices]
        issued = [i for i in invoices if i.state not in {'draft', 'cancelled'}]
        if issued:
            raise BillingError(gettext(
                    'telecom_billing.msg_run_cancel_issued',
                    invoice=issued[0].rec_name))
        Invoice.delete([i for i in invoices if i.state == 'draft'])

    # --- cron ----------------------------------------------------------

    @classmethod
    def bill_previous_month(cls):
        """Cron: invoice last month for the tenant of the context (or each
        tenant), unless a run already covers it."""
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        company_id = Transaction().context.get('company')
        companies = ([Company(company_id)] if company_id
            else Company.search([]))
        for company in companies:
            with Transaction().set_context(company=company.id):
                start, end = previous_month(Date.today())
            if cls.search([
                        ('company', '=', company.id),
                        ('state', '=', 'done'),
                        ('start_date', '<=', end),
                        ('end_date', '>=', start),
                        ], limit=1):
                continue
            cls.bill(company, start, end)


class CreateBillingRunStart(ModelView):
    "Create Billing Run"
    __name__ = 'telecom.billing.run.create.start'
    company = fields.Many2One('company.company', "Tenant", required=True)
    start_date = fields.Date("Start Date", required=True)
    end_date = fields.Date(
        "End Date", required=True,
        domain=[('end_date', '>=', Eval('start_date'))])
    invoice_date = fields.Date(
        "Invoice Date", required=True,
        help="The date of the invoices and of their currency rates.")
    run = fields.Many2One('telecom.billing.run', "Run", readonly=True)

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_start_date(cls):
        return previous_month(Pool().get('ir.date').today())[0]

    @classmethod
    def default_end_date(cls):
        return previous_month(Pool().get('ir.date').today())[1]

    @classmethod
    def default_invoice_date(cls):
        return Pool().get('ir.date').today()


class CreateBillingRun(Wizard):
    "Create Billing Run"
    __name__ = 'telecom.billing.run.create'
    start = StateView('telecom.billing.run.create.start',
        'telecom_billing.billing_run_create_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Invoice", 'bill', 'tryton-ok', default=True),
            ])
    bill = StateTransition()
    open_ = StateAction('telecom_billing.act_billing_run_form')

    def transition_bill(self):
        pool = Pool()
        Run = pool.get('telecom.billing.run')
        self.start.run = Run.bill(
            self.start.company, self.start.start_date, self.start.end_date,
            self.start.invoice_date)
        return 'open_'

    def do_open_(self, action):
        return action, {'res_id': [self.start.run.id]}
