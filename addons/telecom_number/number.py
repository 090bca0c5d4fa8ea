"""The number inventory of a tenant: DIDs it holds, from which carrier or
parent, at what buying cost, and whose they are.

A number of the inventory is *available*, *reserved* (held back, for an
account or not), *assigned* (to an account of the tenant: a customer,
whose `telecom.number` service it then is, or a reseller's own account,
which gets it in its own inventory, bought from its parent), *quarantined*
(released, resting until `quarantine_until` so that a new holder does not
get the previous holder's calls) or *ported out* (gone to another
operator).
"""
import datetime as dt
from decimal import Decimal, InvalidOperation

from sql.functions import CharLength

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from trytond.modules.telecom_base import numbering
from trytond.modules.telecom_base.locking import advisory_lock
from trytond.modules.telecom_billing.recurring import MONTHS
from trytond.modules.telecom_rating.cdr import bulk_insert, utc_now

from .exceptions import NumberImportError, NumberStateError
from .sheet import SheetError, read_rows

STATES = [
    ('available', "Available"),
    ('reserved', "Reserved"),
    ('assigned', "Assigned"),
    ('quarantined', "Quarantined"),
    ('ported_out', "Ported Out"),
    ]
# A range longer than this is more likely a typing error than a block of
# numbers bought from a carrier.
MAX_RANGE = 1_000_000
# Errors shown for a refused file: enough to fix a batch of them at once.
MAX_ERRORS = 30
COSTS = ('setup_cost', 'monthly_cost', 'minute_cost')


class InventoryNumber(Workflow, ModelSQL, ModelView):
    """Inventory Number

    A DID a tenant holds, whoever it is assigned to."""
    __name__ = 'telecom.inventory.number'
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='CASCADE',
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    number = fields.Char(
        "Number", required=True, strip=True,
        states={
            'readonly': Eval('id', -1) >= 0,
            },
        help="E.164 digits without '+'; +44 20 7123 4567 is read as "
        "442071234567.")
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    state_string = state.translated('state')
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        help="The carrier the number is bought from.")
    supplier = fields.Many2One(
        'telecom.inventory.number', "Bought From", readonly=True,
        ondelete='CASCADE',
        help="The parent tenant's number this reseller's number is.")
    bought_from_parent = fields.Function(
        fields.Boolean("Bought from Parent"), 'get_bought_from_parent')
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True,
        help="The currency of the buying costs.")
    setup_cost = fields.Numeric(
        "Setup Cost", digits=(16, 4), required=True,
        help="What the tenant paid once to get the number.")
    monthly_cost = fields.Numeric(
        "Monthly Cost", digits=(16, 4), required=True,
        help="What the tenant pays each month to keep it.")
    minute_cost = fields.Numeric(
        "Cost per Minute", digits=(16, 4), required=True,
        help="What the tenant pays per minute of inbound calls.")
    account = fields.Many2One(
        'telecom.account', "Account", readonly=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'invisible': ~Eval('state').in_(['reserved', 'assigned']),
            },
        help="Who the number is assigned or reserved to.")
    service = fields.Many2One(
        'telecom.number', "Service", readonly=True, ondelete='SET NULL',
        help="The account's number while assigned to a customer.")
    quarantine_until = fields.Date(
        "Quarantined Until", readonly=True,
        states={
            'invisible': Eval('state') != 'quarantined',
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_number_unique', Unique(t, t.company, t.number),
                'telecom_number.msg_inventory_number_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Equality(cardinality='high'))),
                Index(t, (t.state, Index.Equality()),
                    (t.company, Index.Range())),
                })
        cls._order.insert(0, ('number', 'ASC'))
        cls._transitions |= {
            ('available', 'reserved'),
            ('reserved', 'available'),
            ('available', 'assigned'),
            ('reserved', 'assigned'),
            ('quarantined', 'assigned'),
            ('assigned', 'quarantined'),
            ('quarantined', 'available'),
            ('assigned', 'ported_out'),
            ('available', 'ported_out'),
            }
        cls._buttons.update({
                'reserve': {
                    'invisible': Eval('state') != 'available',
                    'depends': ['state'],
                    },
                'make_available': {
                    'invisible': ~Eval('state').in_(
                        ['reserved', 'quarantined']),
                    'depends': ['state'],
                    },
                'assign': {
                    'invisible': ~Eval('state').in_(
                        ['available', 'reserved', 'quarantined']),
                    'depends': ['state'],
                    },
                'release': {
                    'invisible': Eval('state') != 'assigned',
                    'depends': ['state'],
                    },
                'port_out': {
                    'invisible': ~Eval('state').in_(
                        ['available', 'assigned']),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'available'

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_setup_cost(cls):
        return Decimal(0)

    default_monthly_cost = default_setup_cost
    default_minute_cost = default_setup_cost

    def get_rec_name(self, name):
        return '+' + self.number

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value, *extra = clause
        if isinstance(value, str):
            value = value.lstrip('+')
        return [('number', operator, value, *extra)]

    def get_bought_from_parent(self, name):
        return bool(self.supplier)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('number'):
            try:
                values['number'] = numbering.normalize_number(
                    values['number'])
            except ValueError as exception:
                raise NumberStateError(gettext(
                        'telecom_number.msg_number_invalid',
                        reason=str(exception))) from exception
        return values

    @classmethod
    def validate_fields(cls, numbers, field_names):
        super().validate_fields(numbers, field_names)
        for number in numbers:
            for name in COSTS:
                if getattr(number, name) < 0:
                    raise NumberStateError(gettext(
                            'telecom_number.msg_negative_cost',
                            number=number.rec_name,
                            field=cls._fields[name].string))

    @classmethod
    def delete(cls, numbers):
        for number in numbers:
            if number.state in {'assigned', 'reserved'}:
                raise NumberStateError(gettext(
                        'telecom_number.msg_delete_held',
                        number=number.rec_name))
        super().delete(numbers)

    @classmethod
    def _today(cls):
        return Pool().get('ir.date').today()

    @classmethod
    @ModelView.button
    @Workflow.transition('reserved')
    def reserve(cls, numbers, account=None):
        cls._check_account(numbers, account)
        cls.write(numbers, {'account': account.id if account else None})

    @classmethod
    @ModelView.button
    @Workflow.transition('available')
    def make_available(cls, numbers, date=None):
        date = date or cls._today()
        for number in numbers:
            if (number.state == 'quarantined'
                    and number.quarantine_until > date):
                raise NumberStateError(gettext(
                        'telecom_number.msg_quarantined',
                        number=number.rec_name,
                        until=number.quarantine_until))
        cls.write(numbers, {'account': None, 'quarantine_until': None})

    @classmethod
    @ModelView.button_action('telecom_number.wizard_assign')
    def assign(cls, numbers):
        pass

    @classmethod
    def assign_to(cls, numbers, account, date=None):
        """Assign ``numbers`` to ``account`` from ``date`` (today): a
        customer gets them as its numbers; a reseller's own account gets
        them in the reseller's inventory, bought from this tenant."""
        pool = Pool()
        Service = pool.get('telecom.number')
        Assignment = pool.get('telecom.number.assignment')
        date = date or cls._today()
        cls._check_account(numbers, account)
        for number in numbers:
            if number.state not in {'available', 'reserved', 'quarantined'}:
                raise NumberStateError(gettext(
                        'telecom_number.msg_not_assignable',
                        number=number.rec_name,
                        state=number.state_string))
            if number.state == 'reserved' and number.account not in {
                    None, account}:
                raise NumberStateError(gettext(
                        'telecom_number.msg_reserved_for_other',
                        number=number.rec_name))
            if (number.state == 'quarantined'
                    and number.quarantine_until > date):
                raise NumberStateError(gettext(
                        'telecom_number.msg_quarantined',
                        number=number.rec_name,
                        until=number.quarantine_until))
        with without_check_access():
            Assignment.create([{
                        'number': n.id, 'account': account.id,
                        'start_date': date} for n in numbers])
            if account.reseller:
                cls._supply(numbers, account)
                services = [None] * len(numbers)
            else:
                services = Service.create([{
                            'account': account.id,
                            'number': n.number,
                            'start_date': date,
                            } for n in numbers])
        for number, service in zip(numbers, services):
            # Workflow.transition writes the state once per call; the
            # service differs per number, so write each.
            cls.write([number], {
                    'state': 'assigned',
                    'account': account.id,
                    'service': service.id if service else None,
                    'quarantine_until': None,
                    })

    @classmethod
    def _supply(cls, numbers, account):
        """Put ``numbers`` in the inventory of the reseller whose own
        account is ``account``, bought from this tenant at its number
        price: a number the reseller had before is taken up again."""
        pool = Pool()
        NumberPrice = pool.get('telecom.number.price')
        price = NumberPrice.price_of(numbers[0].company, [account])[
            account.id]
        costs = {name: Decimal(0) for name in COSTS}
        currency = numbers[0].company.currency
        if price:
            months = MONTHS[price.recurrence]
            costs.update(setup_cost=price.setup_fee,
                monthly_cost=(price.price / months).quantize(
                    Decimal('0.0001')))
            currency = price.currency
        previous = {n.number: n for n in cls.search([
                    ('company', '=', account.reseller.id),
                    ('number', 'in', [n.number for n in numbers]),
                    ])}
        to_create = []
        for number in numbers:
            values = {'supplier': number.id, 'currency': currency.id,
                **costs}
            if number.number in previous:
                cls.write([previous[number.number]], {
                        'state': 'available', 'account': None,
                        'quarantine_until': None, **values})
            else:
                to_create.append({'company': account.reseller.id,
                        'number': number.number, **values})
        cls.create(to_create)

    @classmethod
    def _check_account(cls, numbers, account):
        if account is None:
            return
        for number in numbers:
            if account.company != number.company:
                raise NumberStateError(gettext(
                        'telecom_number.msg_account_tenant',
                        number=number.rec_name))

    @classmethod
    @ModelView.button
    def release(cls, numbers, date=None):
        "Take the numbers back from their accounts into quarantine"
        cls._end(numbers, 'quarantined', date)

    @classmethod
    @ModelView.button
    def port_out(cls, numbers, date=None):
        "The numbers leave for another operator"
        cls._end(numbers, 'ported_out', date)

    @classmethod
    def _end(cls, numbers, state, date):
        pool = Pool()
        Service = pool.get('telecom.number')
        Company = pool.get('company.company')
        Assignment = pool.get('telecom.number.assignment')
        date = date or cls._today()
        allowed = {'assigned'} if state == 'quarantined' else {
            'available', 'assigned'}
        for number in numbers:
            if number.state not in allowed:
                raise NumberStateError(gettext(
                        'telecom_number.msg_not_releasable',
                        number=number.rec_name,
                        state=number.state_string))
        with without_check_access():
            supplied = cls.search([
                    ('supplier', 'in', [n.id for n in numbers]),
                    ])
            for child in supplied:
                if child.state in {'assigned', 'reserved'}:
                    raise NumberStateError(gettext(
                            'telecom_number.msg_supplied_in_use',
                            number=child.rec_name))
            # The reseller's number goes back with it; kept, for its
            # assignments were billed, but out of the reseller's reach.
            if supplied:
                cls.write(supplied, {
                        'state': 'ported_out', 'account': None,
                        'quarantine_until': None})
            services = [n.service for n in numbers if n.service]
            if services:
                Service.write(services, {'end_date': date})
            assignments = Assignment.search([
                    ('number', 'in', [n.id for n in numbers]),
                    ('end_date', '=', None),
                    ])
            if assignments:
                Assignment.write(assignments, {'end_date': date})
        for number in numbers:
            values = {'state': state, 'service': None}
            if state == 'quarantined':
                days = Company(number.company.id).number_quarantine_days
                values['quarantine_until'] = date + dt.timedelta(days=days)
            else:
                values['account'] = None
            if state == 'ported_out':
                values['account'] = None
            cls.write([number], values)

    @classmethod
    def end_quarantines(cls, date=None):
        "Make the numbers whose quarantine is over available again (cron)"
        date = date or cls._today()
        numbers = cls.search([
                ('state', '=', 'quarantined'),
                ('quarantine_until', '<=', date),
                ])
        cls.make_available(numbers, date)

    @classmethod
    def import_file(cls, company, data):
        """Add the numbers of a CSV or XLSX file to ``company``'s inventory,
        all or nothing; return how many were added.

        Columns: ``number`` (one number), or ``first`` and ``last`` (a
        range of numbers of one length); ``carrier`` (its code),
        ``currency`` (ISO code, default the tenant's), ``setup_cost``,
        ``monthly_cost``, ``minute_cost`` (default 0).
        """
        pool = Pool()
        Carrier = pool.get('telecom.carrier')
        Currency = pool.get('currency.currency')
        advisory_lock(cls.__name__)
        carriers = {c.code: c.id for c in Carrier.search([
                    ('company', '=', company.id)])}
        currencies = {c.code: c.id for c in Currency.search([])}
        errors = []
        blocks = []

        def error(line, column, reason):
            errors.append(gettext(
                    'telecom_number.msg_import_line',
                    line=line, column=column, reason=reason))

        try:
            for line, row in read_rows(data):
                block = cls._read_block(
                    line, row, carriers, currencies, company, error)
                if block:
                    blocks.append(block)
                if len(errors) >= MAX_ERRORS:
                    break
        except SheetError as exception:
            raise NumberImportError(gettext(
                    'telecom_number.msg_import_unreadable',
                    reason=str(exception))) from exception
        if not errors:
            cls._check_blocks(company, blocks, error)
        if errors:
            raise NumberImportError(gettext(
                    'telecom_number.msg_import_refused',
                    count=len(errors), errors='\n'.join(errors)))
        if not blocks:
            raise NumberImportError(gettext(
                    'telecom_number.msg_import_empty'))
        return cls._insert_blocks(company, blocks)

    @classmethod
    def _read_block(cls, line, row, carriers, currencies, company, error):
        "A (first, last, values, line) of one row, or None after errors"
        ok = True
        if row.get('number'):
            columns = [('number', row['number'])]
        elif row.get('first') or row.get('last'):
            columns = [('first', row.get('first')), ('last', row.get('last'))]
        else:
            error(line, 'number', gettext(
                    'telecom_number.msg_import_no_number'))
            return None
        digits = []
        for column, text in columns:
            try:
                digits.append(numbering.normalize_number(text))
            except ValueError as exception:
                error(line, column, str(exception))
                ok = False
        if ok:
            first, last = digits[0], digits[-1]
            if len(first) != len(last):
                error(line, 'last', gettext(
                        'telecom_number.msg_import_range_length',
                        first=first, last=last))
                ok = False
            elif int(last) < int(first):
                error(line, 'last', gettext(
                        'telecom_number.msg_import_range_order',
                        first=first, last=last))
                ok = False
            elif int(last) - int(first) + 1 > MAX_RANGE:
                error(line, 'last', gettext(
                        'telecom_number.msg_import_range_size',
                        maximum=MAX_RANGE))
                ok = False
        values = {'carrier': None, 'currency': company.currency.id}
        code = row.get('carrier')
        if code:
            if code not in carriers:
                error(line, 'carrier', gettext(
                        'telecom_number.msg_import_carrier', code=code))
                ok = False
            values['carrier'] = carriers.get(code)
        code = row.get('currency')
        if code:
            if code.upper() not in currencies:
                error(line, 'currency', gettext(
                        'telecom_number.msg_import_currency', code=code))
                ok = False
            values['currency'] = currencies.get(code.upper())
        for name in COSTS:
            text = row.get(name) or '0'
            try:
                value = Decimal(text.replace(',', '.'))
                if not value.is_finite() or value < 0:
                    raise InvalidOperation
                values[name] = value.quantize(Decimal('0.0001'))
            except InvalidOperation:
                error(line, name, gettext(
                        'telecom_number.msg_import_cost', value=text))
                ok = False
        return (first, last, values, line) if ok else None

    @classmethod
    def _check_blocks(cls, company, blocks, error):
        "Refuse numbers given twice in the file or already in the inventory"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        previous = None
        for block in sorted(blocks, key=lambda b: (len(b[0]), int(b[0]))):
            first, last, _, line = block
            if (previous and len(previous[1]) == len(first)
                    and int(first) <= int(previous[1])):
                error(line, 'number', gettext(
                        'telecom_number.msg_import_overlap',
                        other=previous[3]))
            previous = block
            # Digit strings of one length sort as their numbers do.
            cursor.execute(*table.select(table.number,
                    where=(table.company == company.id)
                    & (CharLength(table.number) == len(first))
                    & (table.number >= first) & (table.number <= last),
                    limit=1))
            row = cursor.fetchone()
            if row:
                error(line, 'number', gettext(
                        'telecom_number.msg_import_exists', number=row[0]))

    @classmethod
    def _insert_blocks(cls, company, blocks):
        table = cls.__table__()
        user = Transaction().user
        now = utc_now()
        columns = [
            table.company, table.number, table.state, table.carrier,
            table.currency, table.setup_cost, table.monthly_cost,
            table.minute_cost, table.create_uid, table.create_date]

        def rows():
            for first, last, values, _ in blocks:
                width = len(first)
                fixed = (values['carrier'], values['currency'],
                    values['setup_cost'], values['monthly_cost'],
                    values['minute_cost'], user, now)
                for number in range(int(first), int(last) + 1):
                    yield (company.id, str(number).zfill(width), 'available',
                        *fixed)
        bulk_insert(table, columns, rows())
        return sum(int(b[1]) - int(b[0]) + 1 for b in blocks)


class Number(metaclass=PoolMeta):
    __name__ = 'telecom.number'

    @classmethod
    def _conflict_candidates(cls, record, value):
        # A number released and assigned again after its quarantine is
        # held by two accounts, one after the other: only holders whose
        # dates overlap conflict.
        candidates = super()._conflict_candidates(record, value)
        return [c for c in candidates
            if _overlap(record.start_date, record.end_date,
                c.start_date, c.end_date)]


def _overlap(start, end, other_start, other_end):
    return ((other_end is None or start is None or start <= other_end)
        and (end is None or other_start is None or other_start <= end))


class AssignStart(ModelView):
    "Assign Numbers"
    __name__ = 'telecom.inventory.number.assign.start'
    company = fields.Many2One('company.company', "Tenant", readonly=True)
    account = fields.Many2One(
        'telecom.account', "Account", required=True,
        domain=[
            ('company', '=', Eval('company', -1)),
            ('state', '=', 'active'),
            ],
        help="A customer, or a reseller's own account: the reseller then "
        "gets the numbers in its inventory.")
    date = fields.Date("Date", required=True,
        help="The first day the account holds the numbers.")


class Assign(Wizard):
    "Assign Numbers"
    __name__ = 'telecom.inventory.number.assign'
    start = StateView(
        'telecom.inventory.number.assign.start',
        'telecom_number.inventory_number_assign_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Assign", 'assign', 'tryton-ok', default=True),
            ])
    assign = StateTransition()

    def default_start(self, fields):
        pool = Pool()
        Date = pool.get('ir.date')
        companies = {r.company.id for r in self.records}
        return {
            'company': companies.pop() if len(companies) == 1 else None,
            'date': Date.today(),
            }

    def transition_assign(self):
        self.model.assign_to(
            self.records, self.start.account, self.start.date)
        return 'end'


class ImportStart(ModelView):
    "Import Numbers"
    __name__ = 'telecom.inventory.number.import.start'
    company = fields.Many2One(
        'company.company', "Tenant", required=True)
    file = fields.Binary("File", required=True, filename='filename',
        help="CSV or XLSX; columns number (or first and last for a range), "
        "carrier, currency, setup_cost, monthly_cost, minute_cost.")
    filename = fields.Char("File Name")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class ImportNumbers(Wizard):
    "Import Numbers"
    __name__ = 'telecom.inventory.number.import'
    start = StateView(
        'telecom.inventory.number.import.start',
        'telecom_number.inventory_number_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()

    def transition_import_(self):
        pool = Pool()
        Number = pool.get('telecom.inventory.number')
        Number.import_file(self.start.company, self.start.file)
        return 'end'
