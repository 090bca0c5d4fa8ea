"""Call detail records and their rating at every tenant level.

A CDR is stored once (unique switch + call id + leg); ``Cdr.ingest`` is
idempotent. Rating reads unrated CDRs with SQL, prices them with the engine
(``tariff.load_tariff``) and writes one charge per tenant level with bulk
INSERTs — never the ORM per call. Re-rating writes a new version of the
charges and keeps the old one: the price an invoice carried is never
silently changed, and billing (telecom_billing) bills the difference of an
invoiced call on the next invoice.
"""
import datetime as dt
import gc
import logging
import threading
from collections import defaultdict, namedtuple
from decimal import Decimal
from functools import lru_cache
from itertools import islice

from sql import As, Cast, Column, Conflict, Null, Table
from sql.functions import CurrentTimestamp, Extract, Floor
from sql.operators import Any

from trytond import backend, config
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import sqlite_apply_types
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from trytond.modules.telecom_base.locking import advisory_lock
from trytond.modules.telecom_base.numbering import callee_as_authorized
from trytond.modules.telecom_base.wall import read_within_reach

from .cdr_row import COLUMNS, Window, cdr_row
from .cdr_row import values as row_values
from .engine import Level, new_call, rate_batch
from .engine.tariff import epoch
from .plan import DIRECTIONS, SERVICES
from .tariff import Converter, load_tariff

DISPOSITIONS = [
    ('ANSWERED', "Answered"),
    ('NO ANSWER', "No answer"),
    ('BUSY', "Busy"),
    ('FAILED', "Failed"),
    ]
STATES = [
    ('unrated', "Unrated"),
    ('rated', "Rated"),
    ]
BATCH = 20000
logger = logging.getLogger(__name__)
# The ids of the unrated CDRs, fed by triggers on telecom_cdr: the rows a
# CDR has there while state is 'unrated' (rating deletes them).
BACKLOG = 'telecom_cdr_backlog'


def _chunks(rows, size):
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield chunk


def id_chunks(ids):
    """Slices of ``ids`` for ``in_ids``: PostgreSQL takes a whole batch as
    one array parameter; SQLite takes as many as its parameters allow."""
    size = BATCH if backend.name == 'postgresql' else (
        backend.MAX_QUERY_PARAMS)
    return _chunks(ids, size)


class _AnyOf(Any):
    "ANY of an array parameter, parenthesised as python-sql does a list's"
    __slots__ = ()

    def _format(self, operand, param=None):
        return '(%s)' % super()._format(operand, param=param)


def in_ids(column, ids):
    """``column`` IN ``ids`` (integers): ``= ANY(array)`` on PostgreSQL,
    one parameter, sent as the array's text (an untyped literal that
    PostgreSQL reads as an array of the column's type): psycopg dumps a
    list of 20,000 ints at ≈ 0.56 µs an id, the text is joined at ≈ 0.12.
    """
    if backend.name == 'postgresql':
        return column == _AnyOf('{' + ','.join(map(str, map(int, ids))) + '}')
    return column.in_(list(ids))


def bulk_insert(table, columns, rows):
    """Insert ``rows`` (lists of values for ``columns``) into ``table``:
    COPY on PostgreSQL (a multi-row INSERT of 50,000 parameters costs more
    to prepare than to run), chunked multi-row INSERTs elsewhere. A value
    may not be an SQL expression."""
    cursor = Transaction().connection.cursor()
    if backend.name == 'postgresql':
        names = ', '.join(f'"{c.name}"' for c in columns)
        with cursor.copy(
                f'COPY "{table._name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return
    size = max(1, backend.MAX_QUERY_PARAMS // len(columns))
    for chunk in _chunks(rows, size):
        cursor.execute(*table.insert(columns, chunk))


def cdr_window():
    "The plausible CDRs (cdr_row.Window) of trytond's [telecom] section"
    return Window.from_config(
        lambda option: config.get('telecom', option, default=None))


def utc_now():
    "The creation date of bulk-written rows (COPY takes no expression)"
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


_COPY_ESCAPES = str.maketrans({
        '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r'})


@lru_cache(maxsize=1 << 16)
def _copy_text(value):
    "``value`` (str or None) as a field of PostgreSQL's COPY text format"
    if value is None:
        return '\\N'
    return value.translate(_COPY_ESCAPES)


@lru_cache(maxsize=1 << 16)
def _copy_sold(level, seller, account, buyer, plan):
    "The COPY text of a charge's level, seller, account, buyer and plan"
    buyer = '\\N' if buyer is None else buyer
    return f'\t{level}\t{seller}\t{account}\t{buyer}\t{plan}\t'


@lru_cache(maxsize=1 << 18)
def _copy_where(prefix, destination):
    "The COPY text of a charge's prefix and destination"
    return f'{_copy_text(prefix)}\t{_copy_text(destination)}\t'


def forget_cached(*models):
    """Drop what the transaction cached of ``models``' records: rows were
    changed by plain SQL, behind the ORM's back."""
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        for model in models:
            cache.pop(model.__name__, None)


def _bundle_ids(tariff, plan):
    "The ids of the bundles of a compiled plan, in the order it spends them"
    return [bundle for bundle, _ in tariff.plans[plan].bundles]


_Copy = namedtuple('_Copy', ['sql', 'data'])


class _Writer:
    """Runs statements — (sql, params) or _Copy — on the transaction's
    connection. On PostgreSQL a thread sends them, so the server stores one
    batch while Python rates the next: the thread only waits on the
    socket, which releases the GIL. psycopg serialises the connection's
    users; ``wait`` before anything that must see what was written.
    """

    def __init__(self):
        self.connection = Transaction().connection
        self.threaded = backend.name == 'postgresql'
        self.thread = None
        self.error = None

    def submit(self, statements):
        self.wait()
        if not self.threaded:
            self._run(statements)
        else:
            self.thread = threading.Thread(
                target=self._run, args=(statements,), daemon=True)
            self.thread.start()

    def _run(self, statements):
        try:
            cursor = self.connection.cursor()
            for statement in statements:
                if isinstance(statement, _Copy):
                    with cursor.copy(statement.sql) as copy:
                        copy.write(statement.data)
                else:
                    cursor.execute(*statement)
        except BaseException as exception:
            if not self.threaded:
                raise
            self.error = exception

    def wait(self):
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class _RatingRun:
    """What one rating run keeps across its batches: the compiled tariff,
    the currency rates, the rating chains and the engine's levels of each,
    and the bundle balances of each month — spent in memory and written
    once by ``close``: the run holds the rating lock, in one transaction.
    """

    def __init__(self):
        self.tariff = load_tariff()
        self.convert = Converter()
        self._chains = {}
        self._levels = {}
        self._months = {}  # month → (balance records, seconds left, used)
        self._month_of_day = {}
        self._prepaid = defaultdict(Decimal)  # account → balance movement
        self._rerated = set()
        self._currency_codes = {}

    def chains(self, keys):
        "Return {(account, direction, service): chain} with ``keys`` in it"
        missing = [k for k in keys if k not in self._chains]
        if missing:
            Account = Pool().get('telecom.account')
            self._chains.update(Account.rating_chains(missing))
        return self._chains

    def levels(self, chain):
        """The engine's levels of ``chain``: one tuple per chain, as the
        engine memoises what it derives from a chain by identity."""
        found = self._levels.get(id(chain))
        if found is None or found[0] is not chain:
            found = self._levels[id(chain)] = (chain, tuple(
                    Level(c.plan, c.account) for c in chain))
        return found[1]

    def _month(self, start):
        day = start // 86400
        month = self._month_of_day.get(day)
        if month is None:
            month = self._month_of_day[day] = (
                dt.date(1970, 1, 1) + dt.timedelta(days=day)).replace(day=1)
        return month

    def bundle_months(self, calls):
        """Split ``calls`` by UTC month; yield (calls, balances): the
        seconds left that month on the bundles of the calls' accounts."""
        pool = Pool()
        Balance = pool.get('telecom.bundle.balance')
        by_month = defaultdict(list)
        for call in calls:
            by_month[self._month(call.start)].append(call)
        for month, month_calls in sorted(by_month.items()):
            chains = {id(c.chain): c.chain for c in month_calls}
            keys = {(level.account, bundle)
                for chain in chains.values() for level in chain
                for bundle in _bundle_ids(self.tariff, level.plan)}
            if not keys:
                yield month_calls, None
                continue
            records, left, used = self._months.setdefault(month, ({}, {}, {}))
            missing = keys - left.keys()
            if missing:
                # A month opens with what is left of the one before.
                self._spend_bundles()
                for key, balance in Balance.for_month(
                        month, missing).items():
                    records[key] = balance
                    left[key] = balance.carried + balance.current
                    used[key] = 0
            yield month_calls, left

    def spent(self, left, used):
        "Record that a batch used ``used`` {key: seconds} of ``left``"
        if not used:
            return
        for month_left in self._months.values():
            if month_left[1] is left:
                for key, seconds in used.items():
                    left[key] -= seconds
                    month_left[2][key] += seconds
                return

    def prepaid(self, charges, previous, chain_of):
        """Add to the run's prepaid totals what ``charges`` (rows in the
        order of Charge.COLUMNS) cost their prepaid buyers, less what the
        charges they replace (``previous``) cost, in each account's
        currency."""
        pool = Pool()
        Currency = pool.get('currency.currency')
        currency_of = {}
        for chain in {id(c): c for c in chain_of.values()}.values():
            for level in chain:
                if level.prepaid:
                    currency_of[level.account] = level.account_currency
        if not currency_of:
            return
        codes, today = self._currency_codes, dt.date.today()

        def in_account_currency(amount, currency_id, account_id):
            target = currency_of[account_id]
            if currency_id == target:
                return amount
            for id_ in (currency_id, target):
                if id_ not in codes:
                    codes[id_] = Currency(id_).code
            rate = self.convert(codes[currency_id], codes[target], today)
            return (amount * rate) if rate is not None else amount

        totals = self._prepaid
        for row in charges:
            account_id = row[4]
            if account_id not in currency_of:
                continue
            totals[account_id] -= in_account_currency(
                row[11], row[12], account_id)
            for old in previous.get(row[0], ()):
                if old['account'] == account_id:
                    self._rerated.add(account_id)
                    totals[account_id] += in_account_currency(
                        old['amount'], old['currency'], account_id)

    def close(self):
        """Write what the run took from the bundle balances and move the
        balances of prepaid buyers: one movement per account and run."""
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        Account = pool.get('telecom.account')
        rerated = self._rerated
        BalanceLine.add_movements([{
                    'account': account_id, 'amount': total,
                    'kind': 'adjustment' if account_id in rerated else 'call',
                    'description': (
                        "Re-rated calls" if account_id in rerated
                        else "Rated calls"),
                    } for account_id, total in self._prepaid.items() if total])
        if self._prepaid:
            forget_cached(Account)
        self._prepaid.clear()
        self._spend_bundles()

    def _spend_bundles(self):
        Balance = Pool().get('telecom.bundle.balance')
        for records, _, used in self._months.values():
            spent = {k: s for k, s in used.items() if s}
            if spent:
                Balance.spend(records, spent)
                for key in spent:
                    records[key] = Balance(records[key].id)
                    used[key] = 0


class Cdr(ModelSQL, ModelView):
    "Call Detail Record"
    __name__ = 'telecom.cdr'
    _rec_name = 'call_id'
    switch = fields.Char("Switch", required=True, readonly=True)
    call_id = fields.Char("Call ID", required=True, readonly=True)
    leg = fields.Char("Leg", required=True, readonly=True)
    account = fields.Many2One(
        'telecom.account', "Account", required=True, readonly=True,
        ondelete='RESTRICT')
    company = fields.Many2One(
        'company.company', "Tenant", required=True, readonly=True,
        ondelete='RESTRICT',
        help="The tenant of the account: who sells to the caller.")
    caller = fields.Char("Caller", readonly=True)
    callee = fields.Char("Callee", readonly=True)
    direction = fields.Selection(
        DIRECTIONS, "Direction", required=True, readonly=True)
    service = fields.Selection(
        SERVICES, "Service", required=True, readonly=True)
    start = fields.DateTime("Start", required=True, readonly=True)
    answer = fields.DateTime("Answer", readonly=True)
    end = fields.DateTime("End", readonly=True)
    duration = fields.Integer(
        "Billable Seconds", required=True, readonly=True)
    disposition = fields.Selection(
        DISPOSITIONS, "Disposition", required=True, readonly=True)
    hangup_cause = fields.Integer("Hang-up Cause", readonly=True,
        help="The Q.850 cause.")
    carrier = fields.Char("Carrier", readonly=True)
    pdd_ms = fields.Integer(
        "Post-Dial Delay (ms)", readonly=True,
        help="Milliseconds from the INVITE sent to the carrier to its "
        "first ringing or answer, when the switch reports it.")
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    unrated_reason = fields.Char(
        "Why Unrated", readonly=True,
        states={
            'invisible': Eval('state') != 'unrated',
            })
    rating_version = fields.Integer("Rating Version", readonly=True)
    charges = fields.One2Many(
        'telecom.cdr.charge', 'cdr', "Charges", readonly=True,
        filter=[('current', '=', True)])
    history = fields.One2Many(
        'telecom.cdr.charge', 'cdr', "Rating History", readonly=True)

    @classmethod
    def read(cls, ids, fields_names):
        # A sub-reseller's call has the charges of the levels above it,
        # which it may not read: listed for those who may only.
        return read_within_reach(cls, super().read, ids, fields_names,
            ['charges', 'history'])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('call_unique', Unique(t, t.switch, t.call_id, t.leg),
                'telecom_rating.msg_cdr_unique'),
            ]
        # The backlog to rate is the table telecom_cdr_backlog (see
        # __register__), not a partial index on state: an index on state
        # would make every rating UPDATE rewrite every index entry of the
        # CDR instead of a HOT update in its page.
        cls._sql_indexes.update({
                Index(t, (t.account, Index.Range()),
                    (t.start, Index.Range())),
                Index(t, (t.company, Index.Range()),
                    (t.start, Index.Range())),
                })
        cls._order = [('start', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'rerate_button': {},
                })

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        cursor = Transaction().connection.cursor()
        table = cls._table
        handler = cls.__table_handler__(module_name)
        # Whether a call is invoiced or needs an adjustment is billing's
        # (telecom_billing reads it from its claims): the flags stored here
        # were rewritten for every call of every billing run.
        for column in ['invoiced', 'adjustment']:
            if handler.column_exist(column):
                handler.drop_column(column)
        created = not backend.TableHandler.table_exist(BACKLOG)
        cursor.execute(f'CREATE TABLE IF NOT EXISTS "{BACKLOG}" '
            '(cdr INTEGER PRIMARY KEY)')
        if backend.name == 'postgresql':
            # Rating updates each CDR once: room for its new version on its
            # page makes the UPDATE a HOT one (no index entry rewritten).
            cursor.execute(f'ALTER TABLE "{table}" SET (fillfactor = 50)')
            # Statement triggers with transition tables: one INSERT … SELECT
            # per statement, whatever the number of rows.
            cursor.execute(f'''
                CREATE OR REPLACE FUNCTION "{BACKLOG}_add"() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                    INSERT INTO "{BACKLOG}" (cdr) SELECT id FROM new_cdrs
                    WHERE state = 'unrated';
                    RETURN NULL;
                END $$''')
            cursor.execute(f'''
                CREATE OR REPLACE FUNCTION "{BACKLOG}_drop"() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                    DELETE FROM "{BACKLOG}"
                    WHERE cdr IN (SELECT id FROM old_cdrs);
                    RETURN NULL;
                END $$''')
            cursor.execute(f'''
                CREATE OR REPLACE TRIGGER "{BACKLOG}_add" AFTER INSERT
                ON "{table}" REFERENCING NEW TABLE AS new_cdrs
                FOR EACH STATEMENT EXECUTE FUNCTION "{BACKLOG}_add"()''')
            cursor.execute(f'''
                CREATE OR REPLACE TRIGGER "{BACKLOG}_drop" AFTER DELETE
                ON "{table}" REFERENCING OLD TABLE AS old_cdrs
                FOR EACH STATEMENT EXECUTE FUNCTION "{BACKLOG}_drop"()''')
        else:
            cursor.execute(f'''
                CREATE TRIGGER IF NOT EXISTS "{BACKLOG}_add" AFTER INSERT
                ON "{table}" WHEN NEW.state = 'unrated' BEGIN
                    INSERT OR IGNORE INTO "{BACKLOG}" (cdr) VALUES (NEW.id);
                END''')
            cursor.execute(f'''
                CREATE TRIGGER IF NOT EXISTS "{BACKLOG}_drop" AFTER DELETE
                ON "{table}" BEGIN
                    DELETE FROM "{BACKLOG}" WHERE cdr = OLD.id;
                END''')
        if created:
            # Databases that knew the backlog as a partial index on state
            cursor.execute(f'INSERT INTO "{BACKLOG}" (cdr) '
                f'SELECT id FROM "{table}" WHERE state = \'unrated\'')

    @classmethod
    def default_state(cls):
        return 'unrated'

    @classmethod
    def unrated_ids(cls):
        "The ids of the unrated CDRs, in id order: the backlog"
        backlog = Table(BACKLOG)
        cursor = Transaction().connection.cursor()
        cursor.execute(*backlog.select(
                backlog.cdr, order_by=[backlog.cdr]))
        return [r[0] for r in cursor]

    # --- ingest -----------------------------------------------------------

    @classmethod
    def ingest(cls, rows):
        """Store CDRs given as dicts; return (stored, duplicates).

        Keys: those of ``cdr_row.COLUMNS`` (switch, call_id, leg, account
        id, caller, callee, direction, service, start, answer, end — aware
        or UTC datetimes — duration, disposition, hangup_cause, carrier,
        pdd_ms), checked and completed by ``cdr_row`` as the API's are
        (``cdr_row.Invalid`` names a refused field). A CDR already stored
        (same switch, call id and leg) is not stored again.
        """
        pool = Pool()
        Account = pool.get('telecom.account')
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        window = cdr_window()
        now = utc_now()
        rows = [cdr_row(r, now, window) for r in rows]
        companies, dialling = {}, {}
        with without_check_access():
            for account in Account.browse(list({r['account'] for r in rows})):
                companies[account.id] = account.company.id
                country = account.country.code if account.country else None
                dialling[account.id] = (country, {
                        'wholesale': account.flavour == 'wholesale',
                        'country': country,
                        'national_prefix': account.national_prefix or '',
                        'international_prefix':
                        account.international_prefix or ''})
            emergency = cls._emergency_numbers()
        for row in rows:
            # The callee as the API stores it: the same function
            country, rules = dialling[row['account']]
            row['callee'] = callee_as_authorized(row['callee'],
                row['direction'], emergency.get(None, frozenset())
                | emergency.get(country, frozenset()), **rules)
        columns = [Column(table, c) for c in COLUMNS] + [
            table.company, table.state, table.rating_version,
            table.create_uid, table.create_date]
        values = [[*row_values(r), companies[r['account']], 'unrated', 0,
                transaction.user, CurrentTimestamp()]
            for r in rows]
        stored = 0
        if backend.name == 'postgresql':
            return cls._ingest_staged(table, columns, values)
        size = max(1, backend.MAX_QUERY_PARAMS // len(columns))
        for chunk in _chunks(values, size):
            cursor.execute(*table.insert(
                    columns, chunk, on_conflict=Conflict(table)))
            # Rows skipped by the conflict clause are not counted.
            stored += cursor.rowcount
        return stored, len(values) - stored

    @staticmethod
    def _emergency_numbers():
        "{country code or None: numbers} (telecom_switch's, when active)"
        try:
            Emergency = Pool().get('telecom.emergency.number')
        except KeyError:
            return {}
        numbers = defaultdict(set)
        for number in Emergency.search([]):
            numbers[number.country.code if number.country else None].add(
                number.number)
        return numbers

    @classmethod
    def _ingest_staged(cls, table, columns, values):
        """PostgreSQL: COPY into a staging table, then one INSERT … ON
        CONFLICT DO NOTHING skips the CDRs already stored, as the chunked
        INSERTs do."""
        cursor = Transaction().connection.cursor()
        staging = Table('telecom_cdr_ingest')
        names = ', '.join(f'"{c.name}"' for c in columns)
        cursor.execute('CREATE TEMPORARY TABLE IF NOT EXISTS '
            f'"{staging._name}" AS SELECT {names} FROM "{table._name}" '
            'WITH NO DATA')
        cursor.execute(f'TRUNCATE "{staging._name}"')
        staged = [Column(staging, c.name) for c in columns]
        now = utc_now()
        bulk_insert(staging, staged, (v[:-1] + [now] for v in values))
        cursor.execute(*table.insert(columns, staging.select(*staged),
                on_conflict=Conflict(table)))
        stored = cursor.rowcount
        return stored, len(values) - stored

    # --- rating -----------------------------------------------------------

    @classmethod
    def rate_unrated(cls, domain=None, batch=BATCH, progress=None):
        """Rate the unrated CDRs (of ``domain``); return (rated, unrated).

        ``progress(done)`` is called after each batch.
        """
        # One rating run at a time: runs spend the same bundle balances.
        advisory_lock('telecom.cdr.rating')
        if domain:
            ids = [c.id for c in cls.search(
                    [('state', '=', 'unrated')] + list(domain), order=[])]
        else:
            # The ids are read once: asking "which are still unrated?" per
            # batch makes PostgreSQL step over the rows this transaction
            # has just rated again and again (quadratic on a big backlog).
            ids = cls.unrated_ids()
        rated, unrated, _ = cls._rate_batches(ids, False, batch, progress)
        return rated, unrated

    @classmethod
    def rate_unrated_cron(cls):
        "Every minute: rate what the switches sent since"
        cls.rate_unrated()

    @classmethod
    def rerate(cls, cdrs, progress=None):
        """Rate ``cdrs`` again with today's tariff (F16).

        A call whose price is unchanged keeps its rating; a changed one gets
        a new version of its charges (the old one is kept: billing bills the
        difference of an invoiced call). Calls keep the bundle seconds
        they used: re-rating re-prices, it does not replay the month's
        bundle. Return (changed, unchanged, unrated).
        """
        advisory_lock('telecom.cdr.rating')
        changed, unrated, unchanged = cls._rate_batches(
            [c.id for c in cdrs], True, BATCH, progress)
        return changed, unchanged, unrated

    @classmethod
    @ModelView.button
    def rerate_button(cls, cdrs):
        cls.rerate(cdrs)

    @classmethod
    def _read_calls(cls, ids):
        """Return the rows of CDRs ``ids`` to rate: id, account, caller,
        callee, start (UTC epoch seconds), duration, direction, service,
        disposition, rating version."""
        cdr = cls.__table__()
        cursor = Transaction().connection.cursor()
        if backend.name == 'postgresql':
            # The engine takes epoch seconds: no datetime per call.
            start = Cast(Floor(Extract('EPOCH', cdr.start)), 'BIGINT')
        else:
            start = cdr.start
        columns = [cdr.id, cdr.account, cdr.caller, cdr.callee, start,
            cdr.duration, cdr.direction, cdr.service, cdr.disposition,
            cdr.rating_version]
        rows = []
        for sub_ids in id_chunks(ids):
            query = cdr.select(
                *(As(c, f'c{i}') for i, c in enumerate(columns)),
                where=in_ids(cdr.id, sub_ids))
            if backend.name == 'sqlite':
                sqlite_apply_types(query, [None] * 4 + ['TIMESTAMP']
                    + [None] * 5)
            cursor.execute(*query)
            if backend.name == 'sqlite':
                rows.extend(r[:4] + (epoch(r[4]),) + r[5:] for r in cursor)
            else:
                # fetchall builds the rows in C; iterating the cursor
                # costs a Python call a row (≈ 0.5 µs more).
                rows.extend(cursor.fetchall())
        return rows

    @classmethod
    def _rate_batches(cls, ids, rerate, batch, progress=None):
        """Rate the CDRs ``ids`` by batches; return (rated or changed,
        unrated, unchanged).

        Each batch's results are written while the next one is rated
        (_Writer): PostgreSQL stores one batch on one core while Python
        prices the next on the other. The next batch is read before the
        writes of the current one are sent: one connection serves both.
        """
        Charge = Pool().get('telecom.cdr.charge')
        run, writer = _RatingRun(), _Writer()
        totals = [0, 0, 0]
        rows = cls._read_calls(ids[:batch])
        # Nothing a run builds is cyclic: the cyclic GC would only walk the
        # compiled tariff and the batches' tuples, again and again (a third
        # of a run's CPU, docs/PERFORMANCE.md). Reference counting frees
        # each batch.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for start in range(0, len(ids), batch):
                writes, counts = cls._rate_rows_apart(rows, rerate, run)
                if start + batch < len(ids):
                    rows = cls._read_calls(
                        ids[start + batch:start + 2 * batch])
                writer.submit(writes)
                totals = [t + c for t, c in zip(totals, counts)]
                if progress:
                    progress(min(start + batch, len(ids)))
            writer.wait()
        except BaseException:
            # Never leave a thread using the connection being rolled back.
            writer.thread and writer.thread.join()
            raise
        finally:
            if collecting:
                gc.enable()
        run.close()
        forget_cached(cls, Charge)
        cls._after_rating(ids, rerate)
        return tuple(totals)

    @classmethod
    def _extra_costs(cls, rows):
        """{CDR id: amount} added to the price of the calls of ``rows`` (of
        _read_calls) their account pays, beside the plan's price: none
        here (telecom_switch's over-limit surcharge)."""
        return {}

    @classmethod
    def _after_rating(cls, ids, rerate):
        "Called once the CDRs ``ids`` are rated (or re-rated) and stored"

    @classmethod
    def _rate_rows(cls, rows, rerate, run):
        """Rate the CDR ``rows`` of _read_calls; return the statements that
        store the results (for _Writer) and (rated or changed, unrated,
        unchanged)."""
        pool = Pool()
        Charge = pool.get('telecom.cdr.charge')
        tariff = run.tariff
        keys = {(r[1], r[6], r[7]) for r in rows}
        chains = run.chains(keys)
        previous = Charge.current_of([r[0] for r in rows]) if rerate else {}

        calls, reasons, chain_of = [], {}, {}
        # (account, direction, service) → (chain, its engine levels), or
        # (reason, None): one look-up per CDR.
        by_key = {}
        for key in keys:
            chain = chains[key]
            by_key[key] = (chain, None) if isinstance(chain, str) else (
                chain, run.levels(chain))
        for (cdr_id, account, caller, callee, start, duration, direction,
                service, disposition, *_) in rows:
            chain, levels = by_key[(account, direction, service)]
            if levels is None:
                reasons[cdr_id] = chain
                continue
            chain_of[cdr_id] = chain
            calls.append(new_call(
                    cdr_id, levels, caller or '', callee or '',
                    start, duration, direction, service,
                    disposition == 'ANSWERED'))

        results = []
        if rerate:
            # Each call keeps the bundle seconds it had.
            plain = []
            for call in calls:
                old = previous.get(call.call_id, ())
                if not any(o['bundle_seconds'] for o in old):
                    plain.append(call)
                    continue
                balances = {}
                for level, charge in zip(call.chain, old):
                    for bundle in _bundle_ids(tariff, level.plan)[:1]:
                        balances[(level.account, bundle)] = (
                            charge['bundle_seconds'])
                results.extend(rate_batch(
                        tariff, [call], run.convert, balances).calls)
            results.extend(rate_batch(tariff, plain, run.convert).calls)
        else:
            for month_calls, balances in run.bundle_months(calls):
                batch = rate_batch(tariff, month_calls, run.convert, balances)
                run.spent(balances, batch.bundle_used)
                results.extend(batch.calls)

        version_of = {r[0]: r[9] or 0 for r in rows}
        extras = cls._extra_costs(rows)
        charges, versions, unchanged = [], {}, 0
        for result in results:
            call_id = result.call_id
            if result.reason is not None:
                reasons[call_id] = result.reason
                continue
            chain = chain_of[call_id]
            version = version_of[call_id] + 1
            new = [(call_id, version, i, c.seller, c.account, c.buyer,
                    c.plan, level.prefix, level.destination[:250],
                    level.charged_seconds, level.bundle_seconds, level.cost,
                    c.currency)
                for i, (level, c) in enumerate(zip(result.levels, chain))]
            if call_id in extras:
                # On the charge of the CDR's account: the last level.
                last = new[-1]
                new[-1] = last[:11] + (last[11] + extras[call_id], last[12])
            if rerate and Charge.same(previous.get(call_id), new):
                unchanged += 1
                continue
            versions[call_id] = version
            charges.extend(new)
        writes = Charge.store_statements(
            charges, replaced=list(versions) if rerate else ())
        writes += cls._mark_statements(versions, reasons)
        run.prepaid(charges, previous, chain_of)
        return writes, (len(versions), len(reasons), unchanged)

    @classmethod
    def _rate_rows_apart(cls, rows, rerate, run):
        """``_rate_rows``; when it fails (a row no check foresaw: a date
        out of range, a value the engine cannot take), the rows are rated
        one by one and each failing one is set aside — left unrated with
        its reason, out of the backlog so no later run trips on it again,
        listed in the back office (Calls, "Why Unrated") for staff to fix
        and rate again with "Rate Again". One bad row never stops the
        rating of the others, of any tenant."""
        try:
            return cls._rate_rows(rows, rerate, run)
        except Exception:
            logger.exception("rating a batch of %d CDRs failed: rating "
                "them one by one", len(rows))
        writes, counts, aside = [], [0, 0, 0], {}
        for row in rows:
            try:
                row_writes, row_counts = cls._rate_rows([row], rerate, run)
            except Exception as exception:
                aside[row[0]] = ("set aside, rating failed: %s: %s" % (
                        type(exception).__name__, exception))[:250]
                continue
            writes.extend(row_writes)
            counts = [t + c for t, c in zip(counts, row_counts)]
        counts[1] += len(aside)
        return writes + cls._set_aside_statements(aside), tuple(counts)

    @classmethod
    def _set_aside_statements(cls, reasons):
        "The statements that set CDRs aside: {id: reason}"
        cdr = cls.__table__()
        backlog = Table(BACKLOG)
        statements = []
        for cdr_id, reason in reasons.items():
            statements.append(tuple(backlog.delete(
                        where=backlog.cdr == cdr_id)))
            statements.append(tuple(cdr.update(
                        [cdr.unrated_reason], [reason],
                        where=cdr.id == cdr_id)))
        return statements

    @classmethod
    def _mark_statements(cls, versions, reasons):
        "The statements that set the rating state of the CDRs"
        cdr = cls.__table__()
        backlog = Table(BACKLOG)
        statements = []
        by_version = defaultdict(list)
        for cdr_id, version in versions.items():
            by_version[version].append(cdr_id)
        for version, ids in by_version.items():
            for sub_ids in id_chunks(ids):
                if version == 1:
                    statements.append(tuple(backlog.delete(
                                where=in_ids(backlog.cdr, sub_ids))))
                statements.append(tuple(cdr.update(
                        [cdr.state, cdr.rating_version, cdr.unrated_reason],
                        ['rated', version, Null],
                        where=in_ids(cdr.id, sub_ids))))
        by_reason = defaultdict(list)
        for cdr_id, reason in reasons.items():
            by_reason[reason[:250]].append(cdr_id)
        for reason, ids in by_reason.items():
            for sub_ids in id_chunks(ids):
                statements.append(tuple(cdr.update(
                        [cdr.state, cdr.unrated_reason],
                        ['unrated', reason],
                        where=in_ids(cdr.id, sub_ids)
                        & (cdr.rating_version == 0))))
        return statements


class Charge(ModelSQL, ModelView):
    """CDR Charge

    The price of a call at one tenant level: what ``seller`` charges the
    buyer account with its plan."""
    __name__ = 'telecom.cdr.charge'
    cdr = fields.Many2One(
        'telecom.cdr', "CDR", required=True, ondelete='CASCADE')
    version = fields.Integer("Version", required=True)
    current = fields.Boolean("Current")
    level = fields.Integer("Level", required=True,
        help="0 is the owner's price; each reseller adds one level.")
    seller = fields.Many2One('company.company', "Seller", required=True)
    account = fields.Many2One(
        'telecom.account', "Buyer Account", required=True)
    buyer = fields.Many2One(
        'company.company', "Buyer Company",
        help="Set when the buyer is a reseller.")
    plan = fields.Many2One('telecom.rate.plan', "Plan", required=True)
    prefix = fields.Char("Prefix")
    destination = fields.Char("Destination")
    charged_seconds = fields.Integer("Charged Seconds")
    bundle_seconds = fields.Integer("Bundle Seconds")
    amount = fields.Numeric("Amount", digits=(16, 6), required=True)
    currency = fields.Many2One('currency.currency', "Currency", required=True)

    # What a reseller's purchase points to in its parent's tenant (F2):
    # read as blank by those who may not read it (wall.read_within_reach).
    _parent_references = {'seller', 'account', 'plan'}

    # The columns of a charge row as rating writes it.
    COLUMNS = ('cdr', 'version', 'level', 'seller', 'account', 'buyer',
        'plan', 'prefix', 'destination', 'charged_seconds', 'bundle_seconds',
        'amount', 'currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('cdr_level_version_unique',
                Unique(t, t.cdr, t.level, t.version),
                'telecom_rating.msg_charge_unique'),
            ]
        cls._order = [('cdr', 'DESC'), ('version', 'DESC'), ('level', 'ASC'),
            ('id', 'DESC')]

    @classmethod
    def __setup_indexes__(cls):
        """Only the unique (cdr, level, version) leads with cdr: it serves
        every lookup by CDR (with or without current). Each index costs the
        COPY of every charge row: the automatic one of the ``cdr`` Many2One,
        (cdr, current) and (seller) made it twice as slow
        (docs/PERFORMANCE.md); telecom_billing indexes what its runs read.
        """
        super().__setup_indexes__()
        t = cls.__table__()
        cls._sql_indexes.discard(Index(t, (t.cdr, Index.Range())))

    @classmethod
    def __table_handler__(cls, module_name=None, history=False):
        """The charges are a fact table, written only by rating in bulk,
        three rows or more a call: no foreign key constraints. Checking six
        of them made COPY five times slower (docs/PERFORMANCE.md). The ORM
        still applies the fields' ondelete when a referenced record is
        deleted (trytond checks and cascades in Python)."""
        handler = super().__table_handler__(module_name, history)
        handler.add_fk = lambda *args, **kwargs: None
        return handler

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        # Databases created before the charges lost their foreign keys
        table = cls.__table_handler__(module_name)
        for name, field in cls._fields.items():
            if isinstance(field, fields.Many2One):
                table.drop_fk(name)

    @classmethod
    def read(cls, ids, fields_names):
        return read_within_reach(cls, super().read, ids, fields_names,
            cls._parent_references)

    @classmethod
    def same(cls, old, new):
        """Whether charges ``old`` (dicts of current_of) and ``new`` (rows
        in the order of COLUMNS) price a call alike."""
        if old is None or len(old) != len(new):
            return False
        return all(
            (o['plan'], o['prefix'], o['charged_seconds'],
                o['bundle_seconds'], o['amount'], o['currency'],
                o['account'])
            == (n[6], n[7], n[9], n[10], n[11], n[12], n[4])
            for o, n in zip(old, new))

    @classmethod
    def current_of(cls, cdr_ids):
        "Return {cdr: [values of its current charges by level]}"
        charge = cls.__table__()
        cursor = Transaction().connection.cursor()
        columns = [charge.cdr, charge.level, charge.plan, charge.prefix,
            charge.charged_seconds, charge.bundle_seconds, charge.amount,
            charge.currency, charge.account]
        result = defaultdict(list)
        for sub_ids in id_chunks(cdr_ids):
            query = charge.select(
                *(As(c, f'c{i}') for i, c in enumerate(columns)),
                where=in_ids(charge.cdr, sub_ids)
                & (charge.current == True),  # noqa: E712
                order_by=[charge.cdr, charge.level])
            if backend.name == 'sqlite':
                sqlite_apply_types(
                    query, [None] * 6 + ['NUMERIC'] + [None] * 2)
            cursor.execute(*query)
            for (cdr, level, plan, prefix, charged, bundle, amount, currency,
                    account) in cursor:
                result[cdr].append({
                        'plan': plan, 'prefix': prefix,
                        'charged_seconds': charged, 'bundle_seconds': bundle,
                        'amount': Decimal(amount), 'currency': currency,
                        'account': account})
        return result

    @classmethod
    def store_statements(cls, charges, replaced=()):
        """The statements, for a _Writer, that insert ``charges`` (rows in the
        order of COLUMNS) as the current ones, retiring the current charges
        of the CDRs in ``replaced``."""
        charge = cls.__table__()
        transaction = Transaction()
        statements = []
        for sub_ids in id_chunks(replaced):
            statements.append(tuple(charge.update(
                    [charge.current], [False],
                    where=in_ids(charge.cdr, sub_ids)
                    & (charge.current == True))))  # noqa: E712
        if not charges:
            return statements
        columns = [Column(charge, n) for n in cls.COLUMNS] + [
            charge.current, charge.create_uid, charge.create_date]
        user, now = transaction.user, utc_now()
        if backend.name != 'postgresql':
            size = max(1, backend.MAX_QUERY_PARAMS // len(columns))
            for rows in _chunks(charges, size):
                statements.append(tuple(charge.insert(columns,
                            [list(c) + [True, user, now] for c in rows])))
            return statements
        # COPY text written by hand: psycopg's write_row costs ~15 µs a
        # row in Python, three rows a call; this ~2 µs. What repeats from
        # call to call (who sells to whom, where to) is formatted once.
        tail = f'\tt\t{user}\t{now.isoformat(" ")}\n'
        names = ', '.join(f'"{c.name}"' for c in columns)
        sold, where = _copy_sold, _copy_where
        statements.append(_Copy(
                f'COPY "{charge._name}" ({names}) FROM STDIN', ''.join(
                    f'{c[0]}\t{c[1]}{sold(*c[2:7])}{where(c[7], c[8])}'
                    f'{c[9]}\t{c[10]}\t{c[11]}\t{c[12]}{tail}'
                    for c in charges)))
        return statements


class RateStart(ModelView):
    "Rate CDRs"
    __name__ = 'telecom.cdr.rate.start'
    rated = fields.Integer("Rated", readonly=True)
    unrated = fields.Integer("Still Unrated", readonly=True)


class Rate(Wizard):
    "Rate CDRs"
    __name__ = 'telecom.cdr.rate'
    start_state = 'rate'
    rate = StateTransition()
    done = StateView(
        'telecom.cdr.rate.start', 'telecom_rating.cdr_rate_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_rate(self):
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        ids = [r.id for r in self.records] if self.records else None
        if ids:
            rated, unrated = Cdr.rate_unrated([('id', 'in', ids)])
        else:
            rated, unrated = Cdr.rate_unrated()
        self.done.rated = rated
        self.done.unrated = unrated
        return 'done'

    def default_done(self, fields):
        return {'rated': self.done.rated, 'unrated': self.done.unrated}
