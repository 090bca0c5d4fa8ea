"""The atomic state of call control: concurrency slots and reservations.

One row of ``telecom_live_call`` per admitted call. Admission happens in
one database transaction under a per-account lock (a PostgreSQL advisory
lock; SQLite's ``BEGIN IMMEDIATE`` write lock), so N parallel attempts at
a limit of N admit exactly N, and parallel prepaid calls never reserve
more than the balance.

No trytond import: the API runs this on its hot path with plain drivers
(psycopg 3 async connections, ``Connections``; sqlite3 in a worker thread).
"""
import asyncio
import collections
import contextlib
import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from trytond.modules.telecom_rating import cdr_row

logger = logging.getLogger('telecom.callcontrol.store')
UTC = dt.timezone.utc
LOCK_NAMESPACE = 7301  # pg_advisory_xact_lock(namespace, account id)


@dataclass(frozen=True)
class Limits:
    outbound: int | None = None
    inbound: int | None = None
    total: int | None = None
    extra: int = 0
    over_limit: str = 'refuse'   # or 'charge'


@dataclass(frozen=True)
class Request:
    switch: int
    call_id: str
    leg: str
    account: int
    direction: str
    callee: str
    emergency: bool
    limits: Limits
    # Money the account may spend (balance + credit limit), None: unlimited
    # — the balance part is read in the admission's transaction.
    credit_limit: Decimal | None
    prepaid: bool
    # Cost of a call of N seconds at the account's price, monotone in N.
    cost_of: Callable[[int], Decimal]
    price_per_minute: Decimal
    max_seconds: int
    ttl: int
    # The switch's code, as its CDRs carry it: a call whose CDR is stored
    # is not admitted again (a replayed authorize). None: not checked.
    switch_code: str | None = None
    # What the call's interim updates are priced as, again (update).
    service: str = 'voice'
    caller: str = ''


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str = 'ok'
    max_duration: int | None = None
    reserved: Decimal = Decimal(0)
    over_limit: bool = False


def affordable_seconds(cost_of, available, max_seconds):
    """The longest duration whose cost fits in ``available`` (binary search
    on the monotone cost; 0 when not even a second is affordable)."""
    if cost_of(max_seconds) <= available:
        return max_seconds
    low, high = 0, max_seconds  # cost_of(low) fits (or low = 0), high not
    if cost_of(1) > available:
        return 0
    low = 1
    while high - low > 1:
        middle = (low + high) // 2
        if cost_of(middle) <= available:
            low = middle
        else:
            high = middle
    return low


def decide(request, counts, reserved_total, balance, owed=Decimal(0)):
    """The admission decision from what the transaction read.

    ``counts`` maps direction to live calls of the account (not ended),
    ``reserved_total`` is what its live and ended-unrated calls hold,
    ``owed`` what a postpaid account owes already (``owed_sql``)."""
    limits = request.limits
    over = False
    if not request.emergency:
        extra = limits.extra or 0
        total = sum(counts.values())
        same = counts.get(request.direction, 0)
        direction_limit = (
            limits.outbound if request.direction == 'outbound'
            else limits.inbound)
        at_limit = (
            (direction_limit is not None and same >= direction_limit + extra)
            or (limits.total is not None and total >= limits.total + extra))
        if at_limit:
            if limits.over_limit != 'charge':
                return Admission(False, 'concurrency_limit')
            over = True
    if request.emergency:
        return Admission(True, 'emergency', None, Decimal(0), False)
    if request.prepaid or request.credit_limit is not None:
        available = (balance or Decimal(0)) - reserved_total
        if not request.prepaid:
            available += request.credit_limit - owed
        seconds = affordable_seconds(
            request.cost_of, available, request.max_seconds)
        if seconds < 1:
            return Admission(False, 'insufficient_credit')
        return Admission(
            True, 'ok', seconds, request.cost_of(seconds), over)
    return Admission(True, 'ok', None, Decimal(0), over)


@dataclass(frozen=True)
class Extension:
    "What an interim update of a live call granted"
    max_duration: int     # seconds the call may last in all
    reserved: Decimal
    final: bool           # no more after this: the money (or 4 h) ends


def extend_slice(cost_of, current, available, slice_seconds, max_seconds):
    """The longest duration up to ``current`` + one slice (at most
    ``max_seconds``) whose cost fits in ``available`` — what the account
    has, this call's reservation included; never less than ``current``
    (granted stays granted). Final when it is short of that."""
    target = min(current + slice_seconds, max_seconds)
    seconds = max(current, affordable_seconds(cost_of, available, target))
    return Extension(seconds, cost_of(seconds),
        seconds < target or seconds >= max_seconds)


def to_decimal(value):
    "A NUMERIC as SQLite or psycopg returns it, as Decimal"
    if value is None:
        return Decimal(0)
    if isinstance(value, bytes):
        value = value.decode()
    return value if isinstance(value, Decimal) else Decimal(str(value))


def owed_sql(billing):
    """What a postpaid account owes already, as one query of the account
    id (``?``) returning amounts to add up: its rated calls not yet on a
    posted invoice — the current charge it buys each call at, whatever
    the tenant level — and, with telecom_billing (``billing``), its posted
    invoices not paid (the whole total while partly paid: the side of
    caution). A credit limit counts these beside the live calls'
    reservations. Charges are taken in the account's currency (a plan is
    priced in it)."""
    charges = (
        "SELECT ch.amount FROM telecom_cdr_charge ch "
        "WHERE ch.account = ? AND ch.current = TRUE")
    if not billing:
        return charges
    return (charges + " AND NOT EXISTS (SELECT 1 "
        "FROM telecom_cdr_charge_billed b JOIN account_invoice i "
        "ON i.telecom_run = b.run AND i.telecom_account = b.account "
        "WHERE b.charge = ch.id AND i.state IN ('posted', 'paid')) "
        "UNION ALL SELECT i.total_amount_cache FROM account_invoice i "
        "WHERE i.telecom_account = ? AND i.type = 'out' "
        "AND i.state = 'posted'")


class Store:
    "Common to both backends: SQL text with the driver's placeholder"
    placeholder = '%s'

    def q(self, sql):
        return sql.replace('?', self.placeholder)

    COUNTS = (
        "SELECT direction, COUNT(*) FROM telecom_live_call "
        "WHERE account = ? AND state != 'ended' AND expires_at > ? "
        "GROUP BY direction")
    # Summed in Decimal by the caller: SQLite would sum in floating point.
    RESERVED = (
        "SELECT reserved FROM telecom_live_call "
        "WHERE account = ? AND expires_at > ?")
    BALANCE = "SELECT balance FROM telecom_account WHERE id = ?"
    EXISTING = (
        "SELECT max_duration, reserved, over_limit FROM telecom_live_call "
        "WHERE switch = ? AND call_id = ? AND leg = ?")
    INSERT = (
        "INSERT INTO telecom_live_call (switch, call_id, leg, account, "
        "direction, callee, state, authorized_at, expires_at, "
        "price_per_minute, max_duration, reserved, over_limit, emergency, "
        "create_uid, create_date, service, caller) VALUES "
        "(?, ?, ?, ?, ?, ?, 'authorized', ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)")

    # A CDR row (telecom_rating/cdr_row.py, the one definition of every
    # writer) and what is fixed for a new one: its account's tenant,
    # unrated, version 0.
    CDR_INSERT = (
        'INSERT INTO telecom_cdr (%s, company, state, rating_version, '
        'create_uid, create_date) ' % ', '.join(
            f'"{c}"' for c in cdr_row.COLUMNS))
    # What a stored CDR must repeat to be a replay (cdr_row.IDENTITY)
    CDR_STORED = ', '.join(f'c."{c}"' for c in cdr_row.IDENTITY)

    @staticmethod
    def now():
        return dt.datetime.now(UTC).replace(tzinfo=None)

    def insert_values(self, request, admission, now):
        ttl = request.ttl
        if admission.max_duration is not None:
            ttl = min(ttl, admission.max_duration + 120)
        return (
            request.switch, request.call_id, request.leg, request.account,
            request.direction, request.callee, now,
            now + dt.timedelta(seconds=ttl), request.price_per_minute,
            admission.max_duration, admission.reserved,
            admission.over_limit, request.emergency, now, request.service,
            request.caller)


class SQLiteStore(Store):
    """For the embedded demo: one connection, writes serialised by SQLite's
    write lock and an asyncio lock, run in a worker thread."""
    placeholder = '?'

    def __init__(self, path):
        self.path = path
        self.lock = asyncio.Lock()
        self.connection = None

    def _connect(self):
        if self.connection is None:
            self.connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=30)
        return self.connection

    async def _run(self, function, *args):
        async with self.lock:
            return await asyncio.to_thread(function, *args)

    def _admit(self, request):
        connection = self._connect()
        now = self.now()
        connection.execute('BEGIN IMMEDIATE')
        try:
            if request.switch_code is not None and connection.execute(
                    self.q(CDR_EXISTS), (request.switch_code,
                        request.call_id, request.leg)).fetchone():
                connection.execute('COMMIT')
                return Admission(False, 'call_completed')
            row = connection.execute(self.EXISTING, (
                    request.switch, request.call_id, request.leg)).fetchone()
            if row:
                connection.execute('COMMIT')
                return Admission(
                    True, 'ok', row[0], to_decimal(row[1]), bool(row[2]))
            counts = dict(connection.execute(
                    self.COUNTS, (request.account, now)).fetchall())
            reserved = sum((to_decimal(r[0]) for r in connection.execute(
                        self.RESERVED, (request.account, now))), Decimal(0))
            balance = connection.execute(
                self.BALANCE, (request.account,)).fetchone()
            balance = to_decimal(balance[0]) if balance else None
            owed = Decimal(0)
            if not request.prepaid and request.credit_limit is not None:
                query = self._owed_sql(connection)
                owed = sum((to_decimal(r[0]) for r in connection.execute(
                            query, (request.account,) * query.count('?'))),
                    Decimal(0))
            admission = decide(request, counts, reserved, balance, owed)
            if admission.allowed:
                connection.execute(self.INSERT, self._bind(
                        self.insert_values(request, admission, now)))
            connection.execute('COMMIT')
            return admission
        except BaseException:
            connection.execute('ROLLBACK')
            raise

    async def admit(self, request):
        return await self._run(self._admit, request)

    def _extend(self, switch, call_id, leg, cost_of, slice_seconds,
            max_seconds, credit_limit, prepaid):
        connection = self._connect()
        now = self.now()
        connection.execute('BEGIN IMMEDIATE')
        try:
            row = connection.execute(self.q(SLICED), (
                    switch, call_id, leg)).fetchone()
            if row is None:
                connection.execute('COMMIT')
                return None
            account, current, own = row[0], row[1] or 0, to_decimal(row[2])
            reserved = sum((to_decimal(r[0]) for r in connection.execute(
                        self.RESERVED, (account, now))), Decimal(0))
            balance = connection.execute(
                self.BALANCE, (account,)).fetchone()
            available = to_decimal(balance[0] if balance else 0) \
                - reserved + own
            if not prepaid:
                query = self._owed_sql(connection)
                available += credit_limit - sum((to_decimal(r[0])
                        for r in connection.execute(
                            query, (account,) * query.count('?'))),
                    Decimal(0))
            granted = extend_slice(
                cost_of, current, available, slice_seconds, max_seconds)
            connection.execute(self.q(EXTEND), self._bind((
                        granted.max_duration, granted.reserved,
                        extended_expiry(row[3], granted.max_duration),
                        switch, call_id, leg)))
            connection.execute('COMMIT')
            return granted
        except BaseException:
            connection.execute('ROLLBACK')
            raise

    async def extend(self, switch, call_id, leg, cost_of, slice_seconds,
            max_seconds, credit_limit, prepaid):
        """Grant a live call one more slice, as much of it as the money
        allows (``Extension``); None when the call is not live (ended,
        unknown, rated)."""
        return await self._run(self._extend, switch, call_id, leg, cost_of,
            slice_seconds, max_seconds, credit_limit, prepaid)

    _owed = None

    def _owed_sql(self, connection):
        if self._owed is None:
            billing = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = "
                "'telecom_cdr_charge_billed'").fetchone() is not None
            self._owed = owed_sql(billing)
        return self._owed

    @staticmethod
    def _bind(args):
        return tuple(str(a) if isinstance(a, Decimal) else a for a in args)

    def _execute(self, sql, args):
        connection = self._connect()
        cursor = connection.execute(sql, self._bind(args))
        return cursor.rowcount

    async def execute(self, sql, *args):
        return await self._run(self._execute, sql, args)

    def _fetch(self, sql, args):
        return self._connect().execute(sql, self._bind(args)).fetchall()

    async def fetch(self, sql, *args):
        return await self._run(self._fetch, sql, args)

    async def end(self, switch, call_id, leg, ended, expires):
        await self.execute(self.q(END), ended, expires, switch, call_id, leg)

    async def expire(self, now):
        "Drop the live calls whose TTL has passed (no end came)"
        return await self.execute(self.q(EXPIRE), now)

    def _lookup_cdrs(self, switch, code, keys):
        connection = self._connect()
        found = []
        for call_id, leg in keys:
            known = connection.execute(
                f'SELECT {self.CDR_STORED} FROM telecom_cdr c '
                'WHERE c.switch = ? AND c.call_id = ? AND c.leg = ?',
                (code, call_id, leg)).fetchone()
            live = connection.execute(
                'SELECT account, callee FROM telecom_live_call '
                'WHERE switch = ? AND call_id = ? AND leg = ?',
                (switch, call_id, leg)).fetchone()
            found.append((stored_cdr(known), *(live or (None, None))))
        return found

    async def lookup_cdrs(self, switch, code, keys):
        """For each (call id, leg): its stored CDR (a dict of
        cdr_row.IDENTITY) or None, the live call's account, the live
        call's callee"""
        return await self._run(self._lookup_cdrs, switch, code, keys)

    def _insert_cdrs(self, rows):
        connection = self._connect()
        now = self.now()
        connection.execute('BEGIN IMMEDIATE')
        try:
            # rowcount, not total_changes: that one also counts the rows
            # telecom_rating's trigger adds to the unrated backlog.
            cursor = connection.executemany(self.CDR_INSERT + (
                    "SELECT %s, a.company, 'unrated', 0, 0, ? "
                    "FROM telecom_account a WHERE a.id = ? "
                    "ON CONFLICT DO NOTHING" % ', '.join(
                        '?' * len(cdr_row.COLUMNS))), [
                    self._bind((*cdr_row.values(row), now, row['account']))
                    for row in rows])
            connection.execute('COMMIT')
        except BaseException:
            connection.execute('ROLLBACK')
            raise
        return cursor.rowcount

    async def insert_cdrs(self, rows, channel=None):
        """Store the CDR rows (cdr_row) not stored yet; return how many
        were (the rating worker polls for them: no ``channel`` here)."""
        return await self._run(self._insert_cdrs, rows)

    async def close(self):
        if self.connection is not None:
            self.connection.close()


class Connections:
    """A few kept-open psycopg connections (autocommit), each with the one
    cursor it executes through, handed out last-in first-out.

    Not psycopg_pool: measured here (uvloop, Unix socket, ``SELECT 1``),
    its ``connection()`` costs 99-122 us of CPU and 350-420 us of wall
    time per use against 23-33 us / 56-99 us for a statement on a kept
    connection and cursor (docs/PERFORMANCE.md) — its locks, its checks
    and a task per return — and the API runs one to three statements per
    request. What this keeps of a pool: at most ``max_size`` connections,
    opened when needed; a broken one (PostgreSQL restarted, the backend
    killed) is dropped when given back and the next request opens a new
    one; a request finding all in use waits its turn, at most
    ``timeout`` seconds."""

    def __init__(self, conninfo, min_size=2, max_size=8, configure=None,
            timeout=10.0):
        self.conninfo = conninfo
        self.min_size = min_size
        self.max_size = max_size
        self.configure = configure
        self.timeout = timeout
        self.idle = []          # [(connection, cursor)], the last used last
        self.size = 0           # connections open or being opened
        self.waiters = collections.deque()
        self.closed = False

    async def _connect(self):
        from psycopg import AsyncConnection
        connection = await asyncio.wait_for(AsyncConnection.connect(
                self.conninfo, autocommit=True), self.timeout)
        try:
            if self.configure is not None:
                await self.configure(connection)
        except BaseException:
            await connection.close()
            raise
        return connection, connection.cursor()

    async def open(self):
        while self.size < self.min_size:
            self.size += 1
            try:
                self.idle.append(await self._connect())
            except BaseException:
                self.size -= 1
                raise

    async def acquire(self):
        "A (connection, cursor) for one use; give it back with ``release``"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            if self.closed:
                raise RuntimeError("the store's connections are closed")
            if self.idle:
                return self.idle.pop()
            if self.size < self.max_size:
                self.size += 1
                try:
                    return await self._connect()
                except BaseException:
                    self.size -= 1
                    self._wake()
                    raise
            # Not asyncio.wait_for: on 3.11 it swallows a cancellation
            # that comes with the wake-up, and the connection then taken
            # is never given back.
            waiter = loop.create_future()
            self.waiters.append(waiter)
            timer = loop.call_later(
                max(0.0, deadline - loop.time()), self._expire, waiter)
            try:
                await waiter
            except BaseException:
                self._forget(waiter)
                raise
            finally:
                timer.cancel()

    def _expire(self, waiter):
        if not waiter.done():
            waiter.set_exception(TimeoutError(
                    "no database connection free within %s s"
                    % self.timeout))

    def _forget(self, waiter):
        "A waiter leaves: out of the queue, or its wake-up passed on"
        if (waiter.done() and not waiter.cancelled()
                and waiter.exception() is None):
            self._wake()
        else:
            with contextlib.suppress(ValueError):
                self.waiters.remove(waiter)

    def release(self, item):
        "Give back what ``acquire`` gave; a broken connection is dropped"
        from psycopg.pq import TransactionStatus
        connection, _ = item
        if (self.closed or connection.closed or connection.broken
                or connection.info.transaction_status
                != TransactionStatus.IDLE):
            self.size -= 1
            if connection.broken and not self.closed:
                logger.warning("dropped a broken database connection")
            if not connection.closed:
                asyncio.ensure_future(connection.close())
        else:
            self.idle.append(item)
        self._wake()

    def _wake(self):
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self):
        self.closed = True
        idle, self.idle = self.idle, []
        self.size -= len(idle)
        for connection, _ in idle:
            await connection.close()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def cursor(self):
        "A kept cursor for a few statements (not on the hot path)"
        item = await self.acquire()
        try:
            yield item[1]
        finally:
            self.release(item)


class PostgreSQLStore(Store):
    """For production: psycopg 3 (``Connections``), advisory lock per
    account.

    Round trips and driver calls are the cost here, not SQL: an admission
    is one statement (``telecom_callcontrol_admit``, created at start);
    for an account with a balance or a credit limit, one more when the
    longest call (``max_seconds``) does not fit in what it has left: the
    function then answers how much that is, the call is priced on it and
    asked again. Every other event is one autocommitted statement."""

    # The end in SQL: the slot freed, the reservation kept (``END``).
    END = (
        "UPDATE telecom_live_call SET state = 'ended', ended_at = %s, "
        "expires_at = %s "
        "WHERE switch = %s AND call_id = %s AND leg = %s "
        "AND state != 'ended'")

    # Each account's live calls, counted: the admission reads one row
    # instead of counting (and for money summing) the account's rows —
    # hundreds for a busy trunk. Kept by triggers on telecom_live_call, so
    # every writer (admission, answer, end, expiry, reconcile, rating,
    # trytond's cascades) keeps it. It counts the calls not ended
    # (ended_at IS NULL, as state != 'ended': the end sets both) — the
    # slots — and what they reserve. An ended call's estimate is not in
    # it: rating deletes ended rows in its own, longer transaction, and
    # counting them here would make every admission of those accounts
    # wait for the rating run's commit on this row; the admission sums the
    # few ended rows of a money account instead (partial index, switch.py).
    # ``next_expiry`` is at most the earliest expires_at of the counted
    # calls (lowered on insert, recomputed when reached): when it has
    # passed, the admission drops the account's expired calls first, so
    # the counts are of calls not expired, exactly as counting was.
    COUNTER = """
CREATE TABLE IF NOT EXISTS telecom_live_call_count (
    account integer PRIMARY KEY,
    total integer NOT NULL,
    outbound integer NOT NULL,
    inbound integer NOT NULL,
    reserved numeric NOT NULL,
    next_expiry timestamp) WITH (fillfactor = 50);
CREATE OR REPLACE FUNCTION telecom_live_call_counted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP != 'INSERT' AND OLD.ended_at IS NULL THEN
        UPDATE telecom_live_call_count c SET total = c.total - 1,
            outbound = c.outbound
                - (OLD.direction IS NOT DISTINCT FROM 'outbound')::int,
            inbound = c.inbound
                - (OLD.direction IS NOT DISTINCT FROM 'inbound')::int,
            reserved = c.reserved - COALESCE(OLD.reserved, 0)
            WHERE c.account = OLD.account;
    END IF;
    IF TG_OP != 'DELETE' AND NEW.ended_at IS NULL THEN
        INSERT INTO telecom_live_call_count AS c (account, total, outbound,
            inbound, reserved, next_expiry)
        VALUES (NEW.account, 1,
            (NEW.direction IS NOT DISTINCT FROM 'outbound')::int,
            (NEW.direction IS NOT DISTINCT FROM 'inbound')::int,
            COALESCE(NEW.reserved, 0), NEW.expires_at)
        ON CONFLICT (account) DO UPDATE SET total = c.total + 1,
            outbound = c.outbound + EXCLUDED.outbound,
            inbound = c.inbound + EXCLUDED.inbound,
            reserved = c.reserved + EXCLUDED.reserved,
            next_expiry = LEAST(c.next_expiry, EXCLUDED.next_expiry);
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER telecom_live_call_count_insert
    AFTER INSERT ON telecom_live_call FOR EACH ROW
    WHEN (NEW.ended_at IS NULL)
    EXECUTE FUNCTION telecom_live_call_counted();
CREATE OR REPLACE TRIGGER telecom_live_call_count_delete
    AFTER DELETE ON telecom_live_call FOR EACH ROW
    WHEN (OLD.ended_at IS NULL)
    EXECUTE FUNCTION telecom_live_call_counted();
-- An answer changes nothing counted: no trigger call.
CREATE OR REPLACE TRIGGER telecom_live_call_count_update
    AFTER UPDATE ON telecom_live_call FOR EACH ROW
    WHEN ((OLD.ended_at IS NULL OR NEW.ended_at IS NULL) AND (
        OLD.ended_at IS DISTINCT FROM NEW.ended_at
        OR OLD.account IS DISTINCT FROM NEW.account
        OR OLD.direction IS DISTINCT FROM NEW.direction
        OR OLD.reserved IS DISTINCT FROM NEW.reserved
        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at))
    EXECUTE FUNCTION telecom_live_call_counted();
"""
    # Counted again from the rows at each start, under a lock that holds
    # off every writer of live calls meanwhile (a few milliseconds): a
    # database whose triggers were missing (before 2026-12-03, restored
    # without them) starts right.
    RECOUNT = """
LOCK TABLE telecom_live_call IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM telecom_live_call_count;
INSERT INTO telecom_live_call_count (account, total, outbound, inbound,
    reserved, next_expiry)
SELECT account, COUNT(*),
    COUNT(*) FILTER (WHERE direction = 'outbound'),
    COUNT(*) FILTER (WHERE direction = 'inbound'),
    COALESCE(SUM(reserved), 0), MIN(expires_at)
FROM telecom_live_call WHERE ended_at IS NULL GROUP BY account;
"""

    # The whole admission in one statement (so one round trip): the
    # account's lock, the retry check, its counter row, for accounts with
    # a balance the check that the reservation priced beforehand fits
    # ('retry' with what is available, o_available, when it does not:
    # first asked for the longest call, or another call took the money
    # meanwhile), then the limits (money first: a broke account at its
    # limit is refused for credit, as when the state was read apart).
    # Each statement of a PL/pgSQL function sees what was committed before
    # it ran: the counter is read under the lock, after the previous
    # admission's commit. What others change meanwhile (an end, rating)
    # only lowers what is held, read before the balance: never an
    # overspend.
    ADMIT_FUNCTION = """
CREATE OR REPLACE FUNCTION telecom_callcontrol_admit(
    p_switch integer, p_call_id varchar, p_leg varchar, p_account integer,
    p_direction varchar, p_callee varchar, p_emergency boolean,
    p_same_limit integer, p_total_limit integer, p_charge_over boolean,
    p_money boolean, p_credit numeric, p_reserve numeric,
    p_max_duration integer, p_price numeric, p_now timestamp,
    p_expires timestamp, p_switch_code varchar, p_service varchar,
    p_caller varchar,
    OUT o_result varchar, OUT o_max_duration integer,
    OUT o_reserved numeric, OUT o_over boolean, OUT o_available numeric)
LANGUAGE plpgsql AS $$
DECLARE
    v_total integer;
    v_outbound integer;
    v_inbound integer;
    v_live numeric;
    v_next timestamp;
    v_ended numeric;
    v_balance numeric;
    v_owed numeric;
BEGIN
    -- Its CDR is stored (and perhaps rated, which forgets the live call):
    -- a replayed authorize would hold a slot and money nothing releases.
    IF p_switch_code IS NOT NULL AND EXISTS (SELECT 1 FROM telecom_cdr c
            WHERE c.switch = p_switch_code AND c.call_id = p_call_id
                AND c.leg = p_leg) THEN
        o_result := 'call_completed';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(%(namespace)d, p_account);
    SELECT l.max_duration, l.reserved, l.over_limit
        INTO o_max_duration, o_reserved, o_over
        FROM telecom_live_call l
        WHERE l.switch = p_switch AND l.call_id = p_call_id
            AND l.leg = p_leg;
    IF FOUND THEN
        o_result := 'existing';
        RETURN;
    END IF;
    SELECT c.total, c.outbound, c.inbound, c.reserved, c.next_expiry
        INTO v_total, v_outbound, v_inbound, v_live, v_next
        FROM telecom_live_call_count c WHERE c.account = p_account;
    IF v_next <= p_now THEN
        -- A call of the account outlived its TTL (no end came): dropped,
        -- as the expiry loop would (the trigger uncounts it).
        DELETE FROM telecom_live_call l
            WHERE l.account = p_account AND l.ended_at IS NULL
                AND l.expires_at <= p_now;
        UPDATE telecom_live_call_count c SET next_expiry = (
                SELECT MIN(l.expires_at) FROM telecom_live_call l
                WHERE l.account = p_account AND l.ended_at IS NULL)
            WHERE c.account = p_account
            RETURNING c.total, c.outbound, c.inbound, c.reserved
            INTO v_total, v_outbound, v_inbound, v_live;
    END IF;
    IF p_money THEN
        -- One snapshot: rating deletes an ended call and debits its cost
        -- (prepaid) or writes its charge (postpaid) in one commit, seen
        -- both or neither (telecom_account_owed is STABLE: it runs in
        -- this statement's snapshot). p_credit is null for prepaid.
        SELECT (SELECT a.balance FROM telecom_account a
                WHERE a.id = p_account),
            (SELECT SUM(l.reserved) FROM telecom_live_call l
                WHERE l.account = p_account AND l.ended_at IS NOT NULL
                    AND l.expires_at > p_now),
            CASE WHEN p_credit IS NOT NULL
                THEN telecom_account_owed(p_account) END
            INTO v_balance, v_ended, v_owed;
        o_available := COALESCE(v_balance, 0) + COALESCE(p_credit, 0)
            - COALESCE(v_owed, 0)
            - COALESCE(v_live, 0) - COALESCE(v_ended, 0);
        IF o_available < p_reserve THEN
            o_result := 'retry';
            RETURN;
        END IF;
    END IF;
    o_over := false;
    IF NOT p_emergency AND (
            (p_same_limit IS NOT NULL AND COALESCE(CASE p_direction
                    WHEN 'outbound' THEN v_outbound
                    WHEN 'inbound' THEN v_inbound END, 0) >= p_same_limit)
            OR (p_total_limit IS NOT NULL
                AND COALESCE(v_total, 0) >= p_total_limit)) THEN
        IF NOT p_charge_over THEN
            o_result := 'concurrency_limit';
            RETURN;
        END IF;
        o_over := true;
    END IF;
    INSERT INTO telecom_live_call (switch, call_id, leg, account,
        direction, service, caller, callee, state, authorized_at,
        expires_at, price_per_minute, max_duration, reserved, over_limit,
        emergency, create_uid, create_date)
    VALUES (p_switch, p_call_id, p_leg, p_account, p_direction, p_service,
        p_caller, p_callee, 'authorized', p_now, p_expires, p_price,
        p_max_duration, p_reserve, o_over, p_emergency, 0, p_now);
    o_result := 'ok';
    o_max_duration := p_max_duration;
    o_reserved := p_reserve;
END
$$""" % {'namespace': LOCK_NAMESPACE}
    ADMIT = (
        "SELECT * FROM telecom_callcontrol_admit(%s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    RETRIES = 20

    def __init__(self, conninfo, min_size=2, max_size=8):
        self.pool = Connections(
            conninfo, min_size, max_size, configure=self._configure)

    @staticmethod
    async def _configure(connection):
        """Commit without waiting for the WAL flush: on this machine's disk
        an fdatasync takes 3 ms at the median and over 10 at the 99th
        percentile (docs/PERFORMANCE.md), most of an admission's latency.
        What a crash of PostgreSQL (or of its host) can then lose is the
        last ~0.6 s (3 x wal_writer_delay) of admissions, answers and ends
        — slots and reservations, which expire and are reconciled — never
        a CDR (``CDR_STORE`` commits durably) nor a voucher (redeemed in
        a Tryton transaction)."""
        await connection.execute("SET synchronous_commit = off")

    @classmethod
    def register(cls, cursor):
        """Create or update the counter table, its triggers and the
        admission function with ``cursor`` (trytond's, in LiveCall's
        ``__register__``): ``trytond-admin -u telecom_switch`` owns them,
        never the API process at its start."""
        # A function of an older signature (before 2026-12-03 without
        # o_available, before 2026-12-07 without p_switch_code, p_service
        # and p_caller) cannot be replaced in place: dropped once (restart
        # the API after the update). Never otherwise: a replaced function
        # keeps its oid, which the API workers' prepared statements hold.
        cursor.execute(
            "SELECT oid::regprocedure::text, proargnames FROM pg_proc "
            "WHERE proname = 'telecom_callcontrol_admit'")
        for signature, names in cursor.fetchall():
            if not {'o_available', 'p_switch_code', 'p_service',
                    'p_caller'} <= set(names or ()):
                cursor.execute(f'DROP FUNCTION {signature}')
        cursor.execute(cls.COUNTER)
        cls.register_owed(cursor)
        cursor.execute(cls.ADMIT_FUNCTION)
        cursor.execute(cls.RECOUNT)

    @staticmethod
    def register_owed(cursor):
        """``owed_sql`` as the SQL function the admission calls. Called
        again by telecom_billing's ``__register__``: what a postpaid account
        owes counts its invoices once billing's tables exist."""
        cursor.execute(
            "SELECT to_regclass('telecom_cdr_charge_billed') IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'account_invoice' "
            "AND column_name = 'telecom_account')")
        (billing,), = cursor.fetchall()
        cursor.execute(
            "CREATE OR REPLACE FUNCTION telecom_account_owed("
            "p_account integer) RETURNS numeric LANGUAGE sql STABLE AS "
            "$$ SELECT COALESCE(SUM(o.amount), 0) FROM (%s) AS o(amount) $$"
            % owed_sql(billing).replace('?', 'p_account'))

    async def open(self):
        await self.pool.open()
        async with self.pool.cursor() as cursor:
            await cursor.execute(
                "SELECT to_regprocedure('telecom_callcontrol_admit(integer, "
                "varchar, varchar, integer, varchar, varchar, boolean, "
                "integer, integer, boolean, boolean, numeric, numeric, "
                "integer, numeric, timestamp, timestamp, varchar, varchar, "
                "varchar)') IS NOT NULL")
            (registered,), = await cursor.fetchall()
            if not registered:
                raise RuntimeError("the admission function of the database "
                    "is missing or out of date: update the database with "
                    "trytond-admin -u telecom_switch")
            async with cursor.connection.transaction():
                # Workers starting together: one counts at a time.
                await cursor.execute(
                    'SELECT pg_advisory_xact_lock(%s, 0)', (LOCK_NAMESPACE,))
                await cursor.execute(self.RECOUNT)

    # What an extension reads, in one snapshot (rating deletes a call and
    # debits or charges its cost in one commit): the balance, what the
    # account's calls hold, and what a postpaid one owes.
    EXTEND_READ = (
        "SELECT (SELECT a.balance FROM telecom_account a WHERE a.id = %s), "
        "(SELECT SUM(l.reserved) FROM telecom_live_call l "
        "WHERE l.account = %s AND l.expires_at > %s), "
        "CASE WHEN %s THEN telecom_account_owed(%s) END")

    async def extend(self, switch, call_id, leg, cost_of, slice_seconds,
            max_seconds, credit_limit, prepaid):
        "As SQLiteStore.extend: under the account's admission lock"
        async with self.pool.cursor() as cursor:
            async with cursor.connection.transaction():
                await cursor.execute(SLICED_PG, (switch, call_id, leg))
                row = await cursor.fetchone()
                if row is None:
                    return None
                account = row[0]
                await cursor.execute('SELECT pg_advisory_xact_lock(%s, %s)',
                    (LOCK_NAMESPACE, account))
                # Again under the lock: an extension meanwhile
                await cursor.execute(SLICED_PG, (switch, call_id, leg))
                row = await cursor.fetchone()
                if row is None:
                    return None
                current, own = row[1] or 0, to_decimal(row[2])
                await cursor.execute(self.EXTEND_READ, (account, account,
                        self.now(), not prepaid, account))
                balance, reserved, owed = await cursor.fetchone()
                available = (to_decimal(balance) - to_decimal(reserved)
                    + own)
                if not prepaid:
                    available += credit_limit - to_decimal(owed)
                granted = extend_slice(
                    cost_of, current, available, slice_seconds, max_seconds)
                await cursor.execute(EXTEND.replace('?', '%s'), (
                        granted.max_duration, granted.reserved,
                        extended_expiry(row[3], granted.max_duration),
                        switch, call_id, leg))
                return granted

    async def admit(self, request):
        limits = request.limits
        extra = limits.extra or 0
        same = (limits.outbound if request.direction == 'outbound'
            else limits.inbound)
        money = not request.emergency and (
            request.prepaid or request.credit_limit is not None)
        credit = (None if request.prepaid
            else request.credit_limit or Decimal(0))
        item = await self.pool.acquire()
        cursor = item[1]
        # What the account has left, as the function last said; None:
        # first ask for the longest call (one round trip when it fits)
        available = None
        try:
            for _ in range(self.RETRIES):
                now = self.now()
                if money:
                    # Priced outside the lock, checked under it.
                    seconds = request.max_seconds if available is None \
                        else affordable_seconds(
                            request.cost_of, available, request.max_seconds)
                    if seconds < 1:
                        return Admission(False, 'insufficient_credit')
                    admission = Admission(
                        True, 'ok', seconds, request.cost_of(seconds))
                else:
                    admission = Admission(True, 'emergency'
                        if request.emergency else 'ok', None, Decimal(0))
                values = self.insert_values(request, admission, now)
                await cursor.execute(self.ADMIT, (
                        request.switch, request.call_id, request.leg,
                        request.account, request.direction, request.callee,
                        request.emergency,
                        None if same is None else same + extra,
                        None if limits.total is None
                        else limits.total + extra,
                        limits.over_limit == 'charge', money, credit,
                        admission.reserved, admission.max_duration,
                        request.price_per_minute, now, values[7],
                        request.switch_code, request.service,
                        request.caller))
                result, max_duration, reserved, over, left = (
                    await cursor.fetchone())
                if result == 'retry':
                    available = to_decimal(left)
                    continue
                if result in ('concurrency_limit', 'call_completed'):
                    return Admission(False, result)
                return Admission(True, admission.reason if result == 'ok'
                    else 'ok', max_duration, to_decimal(reserved),
                    bool(over))
        finally:
            self.pool.release(item)
        return Admission(False, 'insufficient_credit')

    async def end(self, switch, call_id, leg, ended, expires):
        await self.execute(self.END, ended, expires, switch, call_id, leg)

    # The expiry in one statement that first locks the counter rows of
    # the accounts it uncounts, in account order (the scalar subquery runs
    # once, before the first row is deleted). Deleted in scan order, the
    # triggers would lock them in any order, and a rating run dropping
    # not-ended calls of two of those accounts (cdr.py, which locks in
    # account order too) could deadlock with it: PostgreSQL then aborts
    # one after deadlock_timeout.
    EXPIRE = (
        "WITH locked AS MATERIALIZED (SELECT c.account "
        "FROM telecom_live_call_count c WHERE c.account IN ("
        "SELECT l.account FROM telecom_live_call l "
        "WHERE l.expires_at <= %s AND l.ended_at IS NULL) "
        "ORDER BY c.account FOR UPDATE) "
        "DELETE FROM telecom_live_call WHERE expires_at <= %s "
        "AND (SELECT COUNT(*) FROM locked) >= 0")

    async def expire(self, now):
        "Drop the live calls whose TTL has passed (no end came)"
        return await self.execute(self.EXPIRE, now, now)

    CDR_LOOKUP = (
        "SELECT " + Store.CDR_STORED + ", c.id IS NOT NULL, l.account, "
        "l.callee FROM unnest(%s::varchar[], %s::varchar[]) "
        "WITH ORDINALITY AS i(call_id, leg, n) "
        "LEFT JOIN telecom_cdr c ON c.switch = %s "
        "AND c.call_id = i.call_id AND c.leg = i.leg "
        "LEFT JOIN telecom_live_call l ON l.switch = %s "
        "AND l.call_id = i.call_id AND l.leg = i.leg ORDER BY i.n")
    # One statement: the CDRs not stored yet, and the rating worker woken
    # (NOTIFY is delivered at commit) when there are some.
    # Durable although the connection is not (``open``): a switch drops
    # its copy of a CDR once it is accepted. set_config(…, true) is SET
    # LOCAL: it holds for this statement's transaction, and so its commit.
    CDR_STORE = (
        "WITH durable AS (SELECT set_config('synchronous_commit', 'on', "
        "true)), stored AS (" + Store.CDR_INSERT
        + "SELECT %s, a.company, 'unrated', 0, 0, %%s FROM unnest(%s) "
        "AS r(%s) JOIN telecom_account a ON a.id = r.account "
        "ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT s.n FROM durable, (SELECT COUNT(*) AS n FROM stored) s "
        "LEFT JOIN LATERAL (SELECT pg_notify(%%s, '') WHERE s.n > 0) x "
        "ON true") % (
        ', '.join(f'r."{c}"' for c in cdr_row.COLUMNS),
        ', '.join('%%s::%s[]' % cdr_row.SQL_TYPES.get(c, 'varchar')
            for c in cdr_row.COLUMNS),
        ', '.join(f'"{c}"' for c in cdr_row.COLUMNS))

    async def lookup_cdrs(self, switch, code, keys):
        rows = await self.fetch(self.CDR_LOOKUP,
            [k[0] for k in keys], [k[1] for k in keys], code, switch)
        width = len(cdr_row.IDENTITY)
        return [(stored_cdr(r[:width]) if r[width] else None,
                *r[width + 1:]) for r in rows]

    async def insert_cdrs(self, rows, channel):
        """Store the CDR rows (cdr_row) not stored yet and NOTIFY
        ``channel`` if some were; return how many were stored."""
        columns = list(zip(*map(cdr_row.values, rows)))
        (stored,), = await self.fetch(
            self.CDR_STORE, self.now(), *map(list, columns), channel)
        return stored

    async def execute(self, sql, *args):
        item = await self.pool.acquire()
        try:
            await item[1].execute(sql, args)
            return item[1].rowcount
        finally:
            self.pool.release(item)

    async def fetch(self, sql, *args):
        item = await self.pool.acquire()
        try:
            await item[1].execute(sql, args)
            return await item[1].fetchall()
        finally:
            self.pool.release(item)

    async def close(self):
        await self.pool.close()


def stored_cdr(values):
    """A stored CDR's cdr_row.IDENTITY as a row has them (SQLite gives
    instants as text), or None"""
    if values is None:
        return None
    stored = dict(zip(cdr_row.IDENTITY, values))
    if isinstance(stored['start'], str):
        stored['start'] = dt.datetime.fromisoformat(stored['start'])
    return stored


def estimate(answered, ended, price, reserved):
    """What an ended call holds until its CDR is rated: the price per minute
    of every started minute (plus one for a connect fee), never more than
    was reserved for it; nothing if it was never answered."""
    if answered is None:
        return Decimal(0)
    if isinstance(answered, str):
        answered = dt.datetime.fromisoformat(answered)
    seconds = max(0, (ended - answered).total_seconds())
    value = to_decimal(price) * (-(-int(seconds) // 60) + 1)
    if to_decimal(reserved):
        value = min(value, to_decimal(reserved))
    return value


# Statements of the call's later life, for both backends.
# An answer is taken in any order: after the end too (the state stays
# 'ended'), once (a duplicate changes nothing).
ANSWER = (
    "UPDATE telecom_live_call SET answered_at = ?, state = CASE "
    "WHEN state = 'authorized' THEN 'answered' ELSE state END "
    "WHERE switch = ? AND call_id = ? AND leg = ? AND answered_at IS NULL")
# At the end the slot is freed, and nothing else: the reservation is kept
# whole until the call's CDR is rated (which puts the real cost on the
# balance and deletes the row). Shrinking it at an end the CDR has not
# confirmed spent the money twice: an end without its answer (lost, or
# late) held nothing, and the next call was granted what this one cost.
END = (
    "UPDATE telecom_live_call SET state = 'ended', ended_at = ?, "
    "expires_at = ? "
    "WHERE switch = ? AND call_id = ? AND leg = ? AND state != 'ended'")
EXPIRE = "DELETE FROM telecom_live_call WHERE expires_at <= ?"
# An interim update (``extend``): the call not ended yet, its grant.
SLICED = (
    "SELECT account, max_duration, reserved, authorized_at "
    "FROM telecom_live_call "
    "WHERE switch = ? AND call_id = ? AND leg = ? AND state != 'ended'")
SLICED_PG = SLICED.replace('?', '%s')
# What prices a live call again
PRICED = (
    "SELECT account, direction, callee, service, caller "
    "FROM telecom_live_call "
    "WHERE switch = ? AND call_id = ? AND leg = ? AND state != 'ended'")
EXTEND = (
    "UPDATE telecom_live_call SET max_duration = ?, reserved = ?, "
    "expires_at = ? WHERE switch = ? AND call_id = ? AND leg = ?")


def extended_expiry(authorized_at, seconds):
    """A call may last its grant from its authorization, as at the
    admission, plus 2 minutes, before its TTL"""
    if isinstance(authorized_at, str):
        authorized_at = dt.datetime.fromisoformat(authorized_at)
    return authorized_at + dt.timedelta(seconds=seconds + 120)


CDR_EXISTS = (
    "SELECT 1 FROM telecom_cdr WHERE switch = ? AND call_id = ? AND leg = ?")
RECONCILE_SELECT = (
    "SELECT call_id, leg FROM telecom_live_call "
    "WHERE switch = ? AND state != 'ended' AND authorized_at < ?")
FORGET = (
    "DELETE FROM telecom_live_call "
    "WHERE switch = ? AND call_id = ? AND leg = ?")
