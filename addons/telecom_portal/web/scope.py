"""Every read and write of the portal, scoped to the signed-in principal.

The portal runs as Tryton's root user (user 0, no record rules), so the
walls between tenants are here and only here: a handler never searches a
model itself, it asks its scope. A scope looks records up by id *within*
its principal and answers ``NotFound`` for anything else — an id of
another tenant and an id that does not exist look the same, so guessing
ids tells nothing.
"""
import csv
import datetime as dt
import io

from sql import Cast, Literal
from sql.aggregate import Count, Sum
from sql.functions import Function
from werkzeug.exceptions import NotFound

from trytond import backend
from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.transaction import Transaction

from trytond.modules.telecom_base.balance import to_decimal

from .mail import send_now

PAGE_SIZE = 50
CSV_LIMIT = 100000
INVOICE_STATES = ['posted', 'paid', 'cancelled']


class InvoiceRefused(UserError):
    "An invoice action the reseller cannot take, and why"


def _one(records):
    if len(records) != 1:
        raise NotFound()
    return records[0]


def _cdr_filters(cdr, account_ids, filters):
    where = cdr.account.in_(account_ids) if len(account_ids) > 1 else (
        cdr.account == account_ids[0])
    if filters.get('start'):
        where &= cdr.start >= dt.datetime.combine(
            filters['start'], dt.time())
    if filters.get('end'):
        where &= cdr.start < dt.datetime.combine(
            filters['end'] + dt.timedelta(days=1), dt.time())
    if filters.get('number'):
        # Digits only (the form normalises), so LIKE needs no escaping.
        pattern = '%' + filters['number'] + '%'
        where &= (cdr.callee.like(pattern) | cdr.caller.like(pattern))
    return where


class _Date(Function):
    "SQLite's DATE(): the day of a timestamp"
    __slots__ = ()
    _function = 'DATE'


class InvoicesScope:
    "The invoices a scope shows: ``_invoice_domain`` says whose"

    def _invoices_domain(self):
        return self._invoice_domain() + [
            ('type', '=', 'out'),
            # A draft is still being reviewed by the tenant (F30).
            ('state', 'in', INVOICE_STATES),
            ]

    def invoices(self, filters):
        return search_invoices(self._invoices_domain(), filters)

    def invoice(self, invoice_id):
        Invoice = Pool().get('account.invoice')
        return _one(Invoice.search(
                self._invoices_domain() + [('id', '=', invoice_id)]))


class CustomerScope(InvoicesScope):
    "What a customer's log-in may read and change: its one account"
    kind = 'customer'

    def __init__(self, account_id):
        self.account_id = account_id

    @property
    def account(self):
        return Pool().get('telecom.account')(self.account_id)

    @property
    def company_id(self):
        return self.account.company.id

    # --- services --------------------------------------------------------

    def _services(self, model):
        return Pool().get(model).search(
            [('account', '=', self.account_id)], order=[('id', 'ASC')])

    def lines(self):
        return self._services('telecom.line')

    def numbers(self):
        return self._services('telecom.number')

    def sip_addresses(self):
        return self._services('telecom.sip_address')

    def credentials(self):
        return self._services('telecom.credential')

    def sip_address(self, address_id):
        SipAddress = Pool().get('telecom.sip_address')
        return _one(SipAddress.search([
                    ('id', '=', address_id),
                    ('account', '=', self.account_id),
                    ]))

    def add_sip_address(self, address):
        SipAddress = Pool().get('telecom.sip_address')
        record, = SipAddress.create([{
                    'account': self.account_id, 'address': address}])
        return record

    def remove_sip_address(self, address_id):
        SipAddress = Pool().get('telecom.sip_address')
        SipAddress.delete([self.sip_address(address_id)])

    def live_calls(self):
        """The calls the switch holds for the account now, or None when
        call control is not installed."""
        pool = Pool()
        try:
            LiveCall = pool.get('telecom.live_call')
        except KeyError:
            return None
        return LiveCall.search([
                ('account', '=', self.account_id),
                ('state', 'in', ['authorized', 'answered']),
                ], count=True)

    def max_calls(self):
        return getattr(self.account, 'max_total', None)

    # --- calls -----------------------------------------------------------

    def calls(self, filters, after=None, limit=PAGE_SIZE):
        """A page of the account's calls, newest first, and the cursor of
        the next page (None on the last).

        Keyset pagination on (start, id): each page is one range scan of
        the index (account, start, id), as fast on page 1,000 as on page 1;
        OFFSET would read every skipped call."""
        return calls_page([self.account_id], filters, after, limit)

    def calls_csv(self, filters):
        return calls_csv([self.account_id], filters)

    def usage_by_day(self, days=30, today=None):
        """[(day, calls, seconds)] of the last ``days`` days, every day
        present (zero when no call). CDRs only, no charge: one range scan
        of the index (account, start)."""
        Cdr = Pool().get('telecom.cdr')
        cdr = Cdr.__table__()
        today = today or dt.date.today()
        first = today - dt.timedelta(days=days - 1)
        cursor = Transaction().connection.cursor()
        if backend.name == 'postgresql':
            # A cast, not DATE_TRUNC('day', …): its parameter would differ
            # between SELECT and GROUP BY for PostgreSQL.
            day = Cast(cdr.start, 'DATE')
        else:
            day = _Date(cdr.start)
        cursor.execute(*cdr.select(day, Count(cdr.id), Sum(cdr.duration),
                where=(cdr.account == self.account_id)
                & (cdr.start >= dt.datetime.combine(first, dt.time())),
                group_by=[day]))
        found = {}
        for value, calls, seconds in cursor:
            if isinstance(value, str):
                value = dt.date.fromisoformat(value[:10])
            elif isinstance(value, dt.datetime):
                value = value.date()
            found[value] = (calls, int(seconds or 0))
        return [(first + dt.timedelta(days=i),
                *found.get(first + dt.timedelta(days=i), (0, 0)))
            for i in range(days)]

    # --- invoices --------------------------------------------------------

    def _invoice_domain(self):
        return [('telecom_account', '=', self.account_id)]

    # --- shop (F28), through telecom_sale's telecom.shop -----------------

    @staticmethod
    def shop():
        try:
            return Pool().get('telecom.shop')
        except KeyError:
            return None

    def shop_products(self):
        Shop = self.shop()
        return Shop.products(self.account) if Shop else []

    def shop_offers(self):
        "[(product, price, price with taxes)] in the account's currency"
        Shop = self.shop()
        return Shop.offers(self.account) if Shop else []

    def order(self, product_id, quantity):
        "Sell the account one product of its tenant's shop; the sale"
        Shop = self.shop()
        products = [p for p in self.shop_products() if p.id == product_id]
        if not Shop or not products:
            raise NotFound()
        return Shop.order(self.account, [(products[0], quantity)])

    # --- money -----------------------------------------------------------

    def balance_lines(self, limit=10):
        BalanceLine = Pool().get('telecom.balance.line')
        return BalanceLine.search(
            [('account', '=', self.account_id)], limit=limit)

    def currencies(self):
        """The currencies the customer may be invoiced in (F13): those its
        tenant has a rate for."""
        Currency = Pool().get('currency.currency')
        return Currency.search(
            [('rates', '!=', None)], order=[('code', 'ASC')])

    def set_currency(self, currency_id):
        Account = Pool().get('telecom.account')
        if currency_id not in {c.id for c in self.currencies()}:
            raise NotFound()
        Account.write([self.account], {'currency': currency_id})


class ResellerScope(InvoicesScope):
    """What a reseller's log-in may read and change: its direct customers,
    its own rate plans, its invoices to its customers. Nothing of its parent
    (carriers, costs, plans, the parent's other customers) is reachable."""
    kind = 'reseller'

    def __init__(self, company_id):
        self.company_id = company_id

    @property
    def company(self):
        return Pool().get('company.company')(self.company_id)

    # --- customers -------------------------------------------------------

    def _customer_domain(self):
        return [('company', '=', self.company_id)]

    def customers(self, search=None):
        Account = Pool().get('telecom.account')
        domain = self._customer_domain()
        if search:
            domain.append(('rec_name', 'ilike', f'%{search}%'))
        return Account.search(domain, order=[('code', 'ASC')])

    def customer(self, account_id):
        Account = Pool().get('telecom.account')
        return _one(Account.search(
                self._customer_domain() + [('id', '=', account_id)]))

    def create_customer(self, name, email, flavour, billing_mode,
            credit_limit, plan_id, address):
        "``address``: the party's invoice address (party.address values)"
        pool = Pool()
        Party = pool.get('party.party')
        Account = pool.get('telecom.account')
        plans = [self.plan(plan_id).id] if plan_id else []
        with Transaction().set_context(company=self.company_id):
            party, = Party.create([{
                        'name': name,
                        'contact_mechanisms': [('create', [
                                    {'type': 'email', 'value': email}])]
                        if email else [],
                        'addresses': [('create', [address])],
                        }])
            account, = Account.create([{
                        'party': party.id, 'company': self.company_id,
                        'flavour': flavour, 'billing_mode': billing_mode,
                        'credit_limit': credit_limit,
                        'currency': self.company.currency.id,
                        'rate_plans': [('add', plans)],
                        }])
        return account

    def update_customer(self, account_id, credit_limit, plan_id,
            call_limits=None):
        """Set the customer's credit limit, its plan among the reseller's
        (None: unchanged, 0: none) and ``call_limits`` (telecom_switch's
        max_inbound / max_outbound / max_total: None for no limit)"""
        Account = Pool().get('telecom.account')
        account = self.customer(account_id)
        # The reseller's plans on the account are replaced; plans that are
        # not the reseller's own (none should be) are left alone.
        own = [p.id for p in account.rate_plans
            if p.company.id == self.company_id]
        values = {'credit_limit': credit_limit, **(call_limits or {})}
        if plan_id is not None:
            new = [self.plan(plan_id).id] if plan_id else []
            # Only the difference: Tryton adds what is not linked yet as
            # the account stood before the write, so "remove the plan,
            # add it again" removed it (a form saved unchanged lost its
            # plan).
            values['rate_plans'] = [
                ('remove', [p for p in own if p not in new]),
                ('add', [p for p in new if p not in own])]
        Account.write([account], values)
        return account

    def set_customer_state(self, account_id, state):
        Account = Pool().get('telecom.account')
        account = self.customer(account_id)
        if state == 'suspended' and account.state == 'active':
            Account.suspend([account])
        elif state == 'active' and account.state == 'suspended':
            Account.activate([account])
        return account

    # --- rate plans ------------------------------------------------------

    def plans(self):
        Plan = Pool().get('telecom.rate.plan')
        return Plan.search(
            [('company', '=', self.company_id)], order=[('name', 'ASC')])

    def plan(self, plan_id):
        Plan = Pool().get('telecom.rate.plan')
        return _one(Plan.search([
                    ('company', '=', self.company_id),
                    ('id', '=', plan_id),
                    ]))

    def destination_groups(self):
        """The owner's named destination groups a reseller marks up (F9):
        names and codes only, no price of the parent."""
        Group = Pool().get('telecom.destination.group')
        return Group.search([], order=[('name', 'ASC')])

    def set_markup(self, plan_id, group_id, percent, per_minute):
        pool = Pool()
        Markup = pool.get('telecom.rate.plan.markup')
        Group = pool.get('telecom.destination.group')
        plan = self.plan(plan_id)
        if group_id is not None and not Group.search(
                [('id', '=', group_id)]):
            raise NotFound()
        existing = Markup.search([
                ('plan', '=', plan.id), ('group', '=', group_id)])
        values = {'percent': percent, 'per_minute': per_minute}
        if existing:
            Markup.write(existing, values)
        else:
            Markup.create([{'plan': plan.id, 'group': group_id, **values}])

    def set_signup(self, plan_ids):
        "Offer exactly ``plan_ids`` of the reseller's plans on sign-up (F35)"
        Plan = Pool().get('telecom.rate.plan')
        plans = self.plans()
        offered = [p for p in plans if p.id in plan_ids]
        hidden = [p for p in plans if p.id not in plan_ids]
        args = []
        if offered:
            args += [offered, {'signup': True}]
        if hidden:
            args += [hidden, {'signup': False}]
        if args:
            Plan.write(*args)

    def export_rates(self, plan_id, format_='csv'):
        return self.plan(plan_id).export_rates(format_)

    def import_rates(self, plan_id, data, filename, replace=False):
        return self.plan(plan_id).import_rates(data, filename, replace=replace)

    # --- branding (F34) ---------------------------------------------------

    def brand(self):
        "The reseller's default brand, or None"
        Brand = Pool().get('telecom.brand')
        brands = Brand.search([('company', '=', self.company_id),
                ('default', '=', True)], limit=1)
        return brands[0] if brands else None

    def save_brand(self, values):
        """Write ``values`` (name, colours, contacts, sender, logo) on the
        reseller's default brand, made when it has none. Its host names
        stay the platform's to set (they need DNS and TLS)."""
        Brand = Pool().get('telecom.brand')
        brand = self.brand()
        if brand is None:
            brand, = Brand.create([{
                        'company': self.company_id, 'default': True,
                        **values}])
        else:
            Brand.write([brand], values)
        return brand

    # --- vouchers (F32), through telecom_payment -------------------------

    @staticmethod
    def _batches():
        from .payments import optional_model
        return optional_model('telecom.voucher.batch')

    def voucher_batches(self):
        Batch = self._batches()
        if Batch is None:
            return []
        return Batch.search([('company', '=', self.company_id)],
            order=[('id', 'DESC')])

    def voucher_batch(self, batch_id):
        Batch = self._batches()
        if Batch is None:
            raise NotFound()
        return _one(Batch.search([
                    ('company', '=', self.company_id),
                    ('id', '=', batch_id)]))

    def create_voucher_batch(self, name, value, expiry, quantity):
        """A batch of ``quantity`` vouchers of ``value`` in the reseller's
        currency, its codes drawn at once (telecom_payment's bulk
        generation)"""
        Batch = self._batches()
        batch, = Batch.create([{
                    'name': name, 'company': self.company_id,
                    'value': value, 'currency': self.company.currency.id,
                    'expiry': expiry, 'quantity': quantity}])
        Batch.generate([batch])
        return batch

    def voucher_csv(self, batch_id):
        batch = self.voucher_batch(batch_id)
        return batch, self._batches().export_csv([batch])

    # --- numbers (DIDs), through telecom_number -------------------------

    @staticmethod
    def _inventory():
        from .payments import optional_model
        return optional_model('telecom.inventory.number')

    def numbers(self):
        """The reseller's inventory: what it may assign, what it has
        assigned or reserved, what rests in quarantine"""
        Number = self._inventory()
        if Number is None:
            return []
        return Number.search([
                ('company', '=', self.company_id),
                ('state', '!=', 'ported_out'),
                ], order=[('number', 'ASC')], limit=1000)

    def number(self, number_id):
        Number = self._inventory()
        if Number is None:
            raise NotFound()
        return _one(Number.search([
                    ('company', '=', self.company_id),
                    ('id', '=', number_id)]))

    def assign_number(self, number_id, account_id):
        "Assign one of the reseller's numbers to one of its customers"
        number = self.number(number_id)
        account = self.customer(account_id)
        self._inventory().assign_to([number], account)
        return number

    def release_number(self, number_id):
        number = self.number(number_id)
        self._inventory().release([number])
        return number

    # --- invoices to customers -------------------------------------------

    def _invoice_domain(self):
        return [('company', '=', self.company_id)]

    def calls(self, account_id, filters, after=None, limit=PAGE_SIZE):
        return calls_page(
            [self.customer(account_id).id], filters, after, limit)

    def _unpaid(self, invoice_id):
        invoice = self.invoice(invoice_id)
        if invoice.state != 'posted':
            raise InvoiceRefused(
                f"Invoice {invoice.number} is {invoice.state}: only an "
                "unpaid invoice can be marked paid or reminded.")
        return invoice

    def mark_paid(self, invoice_id, received=None):
        """Record that the customer paid the invoice's amount to pay on
        ``received`` (default today) outside the platform — a bank
        transfer, cash — through the reseller's first invoice payment
        method, and reconcile it: the invoice becomes paid."""
        pool = Pool()
        Method = pool.get('account.invoice.payment.method')
        MoveLine = pool.get('account.move.line')
        invoice = self._unpaid(invoice_id)
        methods = Method.search([('company', '=', self.company_id)],
            order=[('id', 'ASC')], limit=1)
        if not methods:
            raise InvoiceRefused("You have no payment method for received "
                "payments yet: add one in the back office (Invoice "
                "Payment Methods), then mark the invoice paid.")
        with Transaction().set_context(company=self.company_id):
            lines = invoice.pay_invoice(invoice.amount_to_pay, methods[0],
                received or dt.date.today(), "Marked paid in the portal")
            MoveLine.reconcile([line for line in invoice.lines_to_pay
                    if not line.reconciliation] + list(lines))
        return invoice

    def send_reminder(self, invoice_id):
        """E-mail the customer a reminder of the unpaid invoice, from the
        sender of the invoice's brand, logged on the invoice"""
        from email.message import EmailMessage
        invoice = self._unpaid(invoice_id)
        party = invoice.party
        mechanism = (party.contact_mechanism_get('email', usage='invoice')
            or party.contact_mechanism_get('email'))
        if not mechanism or not mechanism.email:
            raise InvoiceRefused(f"{party.rec_name} has no e-mail address: "
                "add one to the customer, then send the reminder.")
        look = invoice.telecom_look()
        due = due_date(invoice)
        msg = EmailMessage()
        msg.set_content(
            f"Dear {party.rec_name},\n\n"
            f"Our invoice {invoice.number} of {invoice.invoice_date} for "
            f"{invoice.total_amount} {invoice.currency.code}"
            + (f", due on {due}," if due else "")
            + f" is still unpaid: {invoice.amount_to_pay} "
            f"{invoice.currency.code} to pay. Please pay it soon; if you "
            "have paid it already, please ignore this message.\n\n"
            f"{look.name}\n{look.support or ''}\n")
        # Sent while the reseller waits, so the page says whether it went.
        invoice.telecom_mail(msg, look, party, mechanism.email,
            f"{look.name}: payment reminder for invoice {invoice.number}",
            send=send_now)
        return mechanism.email


def search_invoices(domain, filters):
    Invoice = Pool().get('account.invoice')
    domain = list(domain)
    if filters.get('start'):
        domain.append(('invoice_date', '>=', filters['start']))
    if filters.get('end'):
        domain.append(('invoice_date', '<=', filters['end']))
    status = filters.get('status')
    if status in {'paid', 'cancelled'}:
        domain.append(('state', '=', status))
    elif status in {'due', 'overdue'}:
        domain.append(('state', '=', 'posted'))
    invoices = Invoice.search(domain, order=[
            ('invoice_date', 'DESC'), ('id', 'DESC')], limit=200)
    if status in {'due', 'overdue'}:
        # Overdue is a maturity passed on a line still to pay: read on the
        # (at most 200) posted invoices rather than searched.
        invoices = [i for i in invoices if invoice_status(i) == status]
    return invoices


def due_date(invoice):
    "The first maturity still to pay, or None"
    dates = [line.maturity_date for line in invoice.lines_to_pay
        if line.maturity_date and not line.reconciliation]
    return min(dates) if dates else None


def invoice_status(invoice, today=None):
    "paid, due, overdue or cancelled: the words a customer uses"
    today = today or dt.date.today()
    if invoice.state == 'posted':
        due = due_date(invoice)
        if due and due < today:
            return 'overdue'
        return 'due'
    return invoice.state


def _cdr_query(account_ids, filters):
    pool = Pool()
    Cdr = pool.get('telecom.cdr')
    Charge = pool.get('telecom.cdr.charge')
    cdr = Cdr.__table__()
    charge = Charge.__table__()
    # The customer's own price only: the charge where it is the buyer.
    # Charges of upper levels (its reseller's cost) never leave the query.
    from_ = cdr.join(charge, 'LEFT',
        condition=(charge.cdr == cdr.id)
        & (charge.current == Literal(True))
        & (charge.account == cdr.account))
    columns = [cdr.id, cdr.start, cdr.caller, cdr.callee, cdr.direction,
        cdr.duration, cdr.disposition, charge.destination, charge.amount,
        cdr.account]
    return cdr, from_, columns, _cdr_filters(cdr, account_ids, filters)


def _cdr_row(row):
    id_, start, caller, callee, direction, duration, disposition, \
        destination, amount, account = row
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    return {
        'id': id_, 'start': start, 'caller': caller, 'callee': callee,
        'direction': direction, 'duration': duration,
        'disposition': disposition, 'destination': destination,
        'amount': to_decimal(amount) if amount is not None else None,
        }


def calls_page(account_ids, filters, after=None, limit=PAGE_SIZE):
    cdr, from_, columns, where = _cdr_query(account_ids, filters)
    if after:
        start, id_ = after
        # (start, id) < (after), written out (SQLite has no row values);
        # "start <= after" alone bounds the index scan: without it the OR
        # makes PostgreSQL read the account's calls from the newest.
        where &= (cdr.start <= start) & ((cdr.start < start)
            | ((cdr.start == start) & (cdr.id < id_)))
    cursor = Transaction().connection.cursor()
    cursor.execute(*from_.select(*columns, where=where,
            order_by=[cdr.start.desc, cdr.id.desc], limit=limit + 1))
    rows = [_cdr_row(r) for r in cursor]
    next_ = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_ = (rows[-1]['start'], rows[-1]['id'])
    return rows, next_


def calls_csv(account_ids, filters):
    "The filtered calls as CSV text, newest first, at most CSV_LIMIT rows"
    cdr, from_, columns, where = _cdr_query(account_ids, filters)
    cursor = Transaction().connection.cursor()
    cursor.execute(*from_.select(*columns, where=where,
            order_by=[cdr.start.desc, cdr.id.desc], limit=CSV_LIMIT))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(['start_utc', 'caller', 'callee', 'direction',
            'seconds', 'disposition', 'destination', 'amount'])
    for row in map(_cdr_row, cursor):
        writer.writerow([row['start'].isoformat(), row['caller'],
                row['callee'], row['direction'], row['duration'],
                row['disposition'], row['destination'] or '',
                '' if row['amount'] is None else str(row['amount'])])
    return out.getvalue()


def principal_scope(user):
    "The scope of a web.user, or None when it opens nothing"
    if user.telecom_account and user.telecom_account.state != 'closed':
        return CustomerScope(user.telecom_account.id)
    if user.reseller:
        return ResellerScope(user.reseller.id)
    return None
