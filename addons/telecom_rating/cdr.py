"""Call detail records and their rating at every tenant level.

A CDR is stored once (unique switch + call id + leg); ``Cdr.ingest`` is
idempotent. Rating reads unrated CDRs with SQL, prices them with the engine
(``tariff.load_tariff``) and writes one charge per tenant level with bulk
INSERTs — never the ORM per call. Re-rating writes a new version of the
charges and keeps the old one; an invoiced call whose price changes is
flagged for adjustment, never silently changed.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from itertools import islice

from sql import As, Column, Conflict, Null, Table
from sql.functions import CurrentTimestamp
from sql.operators import Any

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice, sqlite_apply_types
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from trytond.modules.telecom_base.locking import advisory_lock

from .engine import Call, Level, rate_batch
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


def in_ids(column, ids):
    "``column`` IN ``ids``: ``= ANY(array)`` on PostgreSQL, one parameter"
    if backend.name == 'postgresql':
        return column == Any(list(ids))
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


def utc_now():
    "The creation date of bulk-written rows (COPY takes no expression)"
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


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
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    unrated_reason = fields.Char(
        "Why Unrated", readonly=True,
        states={
            'invisible': Eval('state') != 'unrated',
            })
    rating_version = fields.Integer("Rating Version", readonly=True)
    invoiced = fields.Boolean("Invoiced", readonly=True)
    adjustment = fields.Boolean(
        "Needs Adjustment", readonly=True,
        help="Re-rating changed the price of this invoiced call: the next "
        "invoice carries the difference.")
    charges = fields.One2Many(
        'telecom.cdr.charge', 'cdr', "Charges", readonly=True,
        filter=[('current', '=', True)])
    history = fields.One2Many(
        'telecom.cdr.charge', 'cdr', "Rating History", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('call_unique', Unique(t, t.switch, t.call_id, t.leg),
                'telecom_rating.msg_cdr_unique'),
            ]
        cls._sql_indexes.update({
                # The backlog to rate: small, whatever the CDR history.
                Index(t, (t.id, Index.Range()),
                    where=t.state == 'unrated'),
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
    def default_state(cls):
        return 'unrated'

    # --- ingest -----------------------------------------------------------

    @classmethod
    def ingest(cls, rows):
        """Store CDRs given as dicts; return (stored, duplicates).

        Keys: switch, call_id, leg, account (id), caller, callee, direction,
        service, start, answer, end (aware or UTC datetimes), duration,
        disposition, hangup_cause, carrier. A CDR already stored (same
        switch, call id and leg) is not stored again.
        """
        pool = Pool()
        Account = pool.get('telecom.account')
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        companies = {}
        with without_check_access():
            for account in Account.browse(list({r['account'] for r in rows})):
                companies[account.id] = account.company.id
        columns = [
            table.switch, table.call_id, table.leg, table.account,
            table.company, table.caller, table.callee, table.direction,
            table.service, table.start, table.answer, table.end,
            table.duration, table.disposition, table.hangup_cause,
            table.carrier, table.state, table.rating_version,
            table.invoiced, table.adjustment, table.create_uid,
            table.create_date]

        def naive(value):
            if value is not None and value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return value

        values = [[
                r.get('switch') or 'default', r['call_id'],
                r.get('leg') or 'a', r['account'], companies[r['account']],
                r.get('caller') or '', r['callee'],
                r.get('direction') or 'outbound', r.get('service') or 'voice',
                naive(r['start']), naive(r.get('answer')),
                naive(r.get('end')), r['duration'],
                r.get('disposition') or (
                    'ANSWERED' if r['duration'] else 'NO ANSWER'),
                r.get('hangup_cause'), r.get('carrier'), 'unrated', 0,
                False, False, transaction.user, CurrentTimestamp()]
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
        cdr = cls.__table__()
        cursor = Transaction().connection.cursor()
        where = cdr.state == 'unrated'
        # One rating run at a time: runs spend the same bundle balances.
        advisory_lock('telecom.cdr.rating')
        if domain:
            ids = [c.id for c in cls.search(
                    [('state', '=', 'unrated')] + list(domain), order=[])]
            done = (0, 0)
            for sub_ids in grouped_slice(ids, batch):
                result = cls._rate_ids(list(sub_ids), rerate=False)
                done = (done[0] + result[0], done[1] + result[1])
                if progress:
                    progress(sum(done))
            return done
        rated = unrated = 0
        # The ids are read once: asking "which are still unrated?" per
        # batch makes PostgreSQL step over the rows this transaction has
        # just rated again and again (quadratic on a big backlog).
        cursor.execute(*cdr.select(cdr.id, where=where, order_by=[cdr.id]))
        all_ids = [r[0] for r in cursor]
        for start in range(0, len(all_ids), batch):
            ids = all_ids[start:start + batch]
            result = cls._rate_ids(ids, rerate=False)
            rated += result[0]
            unrated += result[1]
            if progress:
                progress(rated + unrated)
        return rated, unrated

    @classmethod
    def rate_unrated_cron(cls):
        "Every minute: rate what the switches sent since"
        cls.rate_unrated()

    @classmethod
    def rerate(cls, cdrs, progress=None):
        """Rate ``cdrs`` again with today's tariff (F16).

        A call whose price is unchanged keeps its rating; a changed one gets
        a new version of its charges (the old one is kept) and, when already
        invoiced, is flagged for adjustment. Calls keep the bundle seconds
        they used: re-rating re-prices, it does not replay the month's
        bundle. Return (changed, unchanged, unrated).
        """
        advisory_lock('telecom.cdr.rating')
        changed = unchanged = unrated = 0
        done = 0
        for sub_ids in grouped_slice([c.id for c in cdrs], BATCH):
            sub_ids = list(sub_ids)
            result = cls._rate_ids(sub_ids, rerate=True)
            changed += result[0]
            unrated += result[1]
            unchanged += result[2]
            done += len(sub_ids)
            if progress:
                progress(done)
        return changed, unchanged, unrated

    @classmethod
    @ModelView.button
    def rerate_button(cls, cdrs):
        cls.rerate(cdrs)

    @classmethod
    def _read_calls(cls, ids):
        cdr = cls.__table__()
        cursor = Transaction().connection.cursor()
        columns = [cdr.id, cdr.account, cdr.caller, cdr.callee, cdr.start,
            cdr.duration, cdr.direction, cdr.service, cdr.disposition,
            cdr.rating_version, cdr.invoiced]
        rows = []
        for sub_ids in id_chunks(ids):
            query = cdr.select(
                *(As(c, f'c{i}') for i, c in enumerate(columns)),
                where=in_ids(cdr.id, sub_ids))
            if backend.name == 'sqlite':
                sqlite_apply_types(query, [None] * 4 + ['TIMESTAMP']
                    + [None] * 6)
            cursor.execute(*query)
            rows.extend(cursor)
        return rows

    @classmethod
    def _chains(cls, keys):
        "Return {(account, direction, service): [(plan, account)] or reason}"
        pool = Pool()
        Account = pool.get('telecom.account')
        chains = {}
        with without_check_access():
            accounts = {a.id: a for a in Account.browse(
                    list({k[0] for k in keys}))}
            for account_id, direction, service in keys:
                chains[(account_id, direction, service)] = (
                    accounts[account_id].rating_chain(direction, service))
        return chains

    @classmethod
    def _rate_ids(cls, ids, rerate):
        """Rate the CDRs ``ids``; return (rated or changed, unrated,
        unchanged)."""
        pool = Pool()
        Charge = pool.get('telecom.cdr.charge')
        tariff = load_tariff()
        convert = Converter()
        rows = cls._read_calls(ids)
        chains = cls._chains({(r[1], r[6], r[7]) for r in rows})
        previous = Charge.current_of([r[0] for r in rows]) if rerate else {}

        calls, reasons = [], {}
        for (cdr_id, account, caller, callee, start, duration, direction,
                service, disposition, *_) in rows:
            chain = chains[(account, direction, service)]
            if isinstance(chain, str):
                reasons[cdr_id] = chain
                continue
            calls.append(Call(
                    cdr_id,
                    tuple(Level(plan.id, buyer.id) for plan, buyer in chain),
                    caller or '', callee or '',
                    start.replace(tzinfo=dt.timezone.utc), duration,
                    direction, service, disposition == 'ANSWERED'))

        results = {}
        if rerate:
            # Each call keeps the bundle seconds it had.
            with_bundle = [c for c in calls if any(
                    ch['bundle_seconds']
                    for ch in previous.get(c.call_id, ()))]
            plain = [c for c in calls if c not in with_bundle]
            for call in with_bundle:
                balances = {}
                for level, old in zip(call.chain, previous[call.call_id]):
                    for bundle in _bundle_ids(tariff, level.plan)[:1]:
                        balances[(level.account, bundle)] = (
                            old['bundle_seconds'])
                results.update((r.call_id, r) for r in rate_batch(
                        tariff, [call], convert, balances).calls)
            results.update((r.call_id, r) for r in rate_batch(
                    tariff, plain, convert).calls)
        else:
            for month_calls, balances, save in cls._bundle_months(
                    tariff, calls):
                batch = rate_batch(tariff, month_calls, convert, balances)
                save(batch.bundle_used)
                results.update((r.call_id, r) for r in batch.calls)

        for call_id, result in results.items():
            if not result.rated:
                reasons[call_id] = result.reason

        chain_of = {r[0]: chains[(r[1], r[6], r[7])] for r in rows}
        new_charges, versions, unchanged = [], {}, 0
        parties = {}
        invoiced = {r[0] for r in rows if r[10]}
        version_of = {r[0]: r[9] or 0 for r in rows}
        for call_id, result in results.items():
            if not result.rated:
                continue
            charges = [
                Charge.values_of(level, chain_of[call_id][i], parties)
                for i, level in enumerate(result.levels)]
            if rerate and Charge.same(previous.get(call_id), charges):
                unchanged += 1
                continue
            version = version_of[call_id] + 1
            versions[call_id] = version
            for i, values in enumerate(charges):
                values.update(cdr=call_id, level=i, version=version)
                new_charges.append(values)
        Charge.store(new_charges, replaced=list(versions))
        cls._mark(versions, reasons, invoiced if rerate else set())
        cls._debit_prepaid(new_charges, previous, chain_of, convert)
        forget_cached(cls, Charge)
        return len(versions), len(reasons), unchanged

    @classmethod
    def _debit_prepaid(cls, charges, previous, chain_of, convert):
        """Move the balances of prepaid buyers by what their calls cost:
        one movement per account and run, the difference on re-rating."""
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        Currency = pool.get('currency.currency')
        accounts = {}
        for chain in chain_of.values():
            if not isinstance(chain, str):
                accounts.update((b.id, b) for _, b in chain)
        prepaid = {i for i, a in accounts.items()
            if a.billing_mode == 'prepaid'}
        if not prepaid:
            return
        codes = {}
        today = dt.date.today()

        def in_account_currency(amount, currency_id, account):
            if currency_id == account.currency.id:
                return amount
            if currency_id not in codes:
                codes[currency_id] = Currency(currency_id).code
            rate = convert(codes[currency_id], account.currency.code, today)
            return (amount * rate) if rate is not None else amount

        totals, rerated = defaultdict(Decimal), set()
        for values in charges:
            account_id = values['account']
            if account_id not in prepaid:
                continue
            account = accounts[account_id]
            totals[account_id] -= in_account_currency(
                values['amount'], values['currency'], account)
            for old in previous.get(values['cdr'], ()):
                if old['account'] == account_id:
                    rerated.add(account_id)
                    totals[account_id] += in_account_currency(
                        old['amount'], old['currency'], account)
        BalanceLine.add_movements([{
                    'account': account_id, 'amount': total,
                    'kind': 'adjustment' if account_id in rerated else 'call',
                    'description': (
                        "Re-rated calls" if account_id in rerated
                        else "Rated calls"),
                    } for account_id, total in totals.items() if total])
        Account = pool.get('telecom.account')
        forget_cached(Account)

    @classmethod
    def _bundle_months(cls, tariff, calls):
        """Split ``calls`` by UTC month and yield (calls, balances, save):
        the balances available to the accounts' bundles that month, and a
        function that records what a batch used."""
        pool = Pool()
        Balance = pool.get('telecom.bundle.balance')
        by_month = defaultdict(list)
        for call in calls:
            by_month[call.start.date().replace(day=1)].append(call)
        for month, month_calls in sorted(by_month.items()):
            keys = set()
            for call in month_calls:
                for level in call.chain:
                    for bundle in _bundle_ids(tariff, level.plan):
                        keys.add((level.account, bundle))
            if not keys:
                yield month_calls, None, lambda used: None
                continue
            balances = Balance.for_month(month, keys)

            def save(used, balances=balances):
                Balance.spend(balances, used)
            yield month_calls, {
                k: b.carried + b.current for k, b in balances.items()}, save

    @classmethod
    def _mark(cls, versions, reasons, invoiced):
        cdr = cls.__table__()
        cursor = Transaction().connection.cursor()
        by_version = defaultdict(list)
        for cdr_id, version in versions.items():
            by_version[version].append(cdr_id)
        for version, ids in by_version.items():
            for sub_ids in id_chunks(ids):
                cursor.execute(*cdr.update(
                        [cdr.state, cdr.rating_version, cdr.unrated_reason],
                        ['rated', version, Null],
                        where=in_ids(cdr.id, sub_ids)))
                adjusted = [i for i in sub_ids if i in invoiced]
                if adjusted:
                    cursor.execute(*cdr.update(
                            [cdr.adjustment], [True],
                            where=in_ids(cdr.id, adjusted)))
        by_reason = defaultdict(list)
        for cdr_id, reason in reasons.items():
            by_reason[reason[:250]].append(cdr_id)
        for reason, ids in by_reason.items():
            for sub_ids in id_chunks(ids):
                cursor.execute(*cdr.update(
                        [cdr.state, cdr.unrated_reason],
                        ['unrated', reason],
                        where=in_ids(cdr.id, sub_ids)
                        & (cdr.rating_version == 0)))


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

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('cdr_level_version_unique',
                Unique(t, t.cdr, t.level, t.version),
                'telecom_rating.msg_charge_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.cdr, Index.Range()),
                    (t.current, Index.Equality())),
                Index(t, (t.seller, Index.Range())),
                })
        cls._order = [('cdr', 'DESC'), ('version', 'DESC'), ('level', 'ASC'),
            ('id', 'DESC')]

    @classmethod
    def values_of(cls, level, chain_level, parties=None):
        """The values of a charge from the engine's LevelCharge.

        ``parties`` memoises, per chain level, what the records give: read
        through the ORM once per batch, not once per call."""
        plan, buyer = chain_level
        key = (plan.id, buyer.id)
        if parties is None or key not in parties:
            found = {
                'seller': plan.company.id,
                'account': buyer.id,
                'buyer': buyer.reseller.id if buyer.reseller else None,
                'plan': plan.id,
                'currency': plan.currency.id,
                }
            if parties is None:
                parties = {}
            parties[key] = found
        return {
            **parties[key],
            'prefix': level.prefix,
            'destination': level.destination[:250],
            'charged_seconds': level.charged_seconds,
            'bundle_seconds': level.bundle_seconds,
            'amount': level.cost,
            }

    @classmethod
    def same(cls, old, new):
        keys = ['plan', 'prefix', 'charged_seconds', 'bundle_seconds',
            'amount', 'currency', 'account']
        if old is None or len(old) != len(new):
            return False
        return all(
            all(o[k] == n[k] for k in keys) for o, n in zip(old, new))

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
    def store(cls, charges, replaced=()):
        """Insert ``charges`` as the current ones, retiring the current
        charges of the CDRs in ``replaced``."""
        charge = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        for sub_ids in id_chunks(replaced):
            cursor.execute(*charge.update(
                    [charge.current], [False],
                    where=in_ids(charge.cdr, sub_ids)
                    & (charge.current == True)))  # noqa: E712
        if not charges:
            return
        names = ['cdr', 'version', 'level', 'seller', 'account', 'buyer',
            'plan', 'prefix', 'destination', 'charged_seconds',
            'bundle_seconds', 'amount', 'currency']
        columns = [Column(charge, n) for n in names] + [
            charge.current, charge.create_uid, charge.create_date]
        user, now = transaction.user, utc_now()
        bulk_insert(charge, columns,
            ([c[n] for n in names] + [True, user, now] for c in charges))


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
