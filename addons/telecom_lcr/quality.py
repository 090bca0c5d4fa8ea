"""Quality statistics of carriers (F20): ASR, ACD and PDD per destination
group over rolling windows, computed from CDRs in SQL and fed back to the
quality strategy of the routing engine.

A refresh reads the CDRs of the last 7 days once: one aggregate query
groups them by carrier, destination group (the longest matching prefix of
``telecom.destination.prefix``, found with one hash-joinable LEFT JOIN per
prefix length that exists) and age (under 1 h, 24 h, 7 days) into a
temporary table of a few thousand rows; then, per window, an INSERT …
SELECT … GROUP BY per destination group and one over all destinations
write the statistics from it. The ORM never sees a CDR.
"""
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from sql import Cast, Literal, Null, Table
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CharLength, CurrentTimestamp, Substring

from trytond.cache import Cache
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from trytond.modules.telecom_base.locking import advisory_lock
from trytond.modules.telecom_rating.cdr import forget_cached

from .engine import QualityStats

# (window, the largest age class of the CDRs it counts, its length)
WINDOWS = [
    ('1h', 0, dt.timedelta(hours=1)),
    ('24h', 1, dt.timedelta(hours=24)),
    ('7d', 2, dt.timedelta(days=7)),
    ]
WINDOW_SELECTION = [
    ('1h', "Last hour"),
    ('24h', "Last 24 hours"),
    ('7d', "Last 7 days"),
    ]
# The window the switch routes on: recent enough to react within the
# day, long enough to gather samples.
ROUTING_WINDOW = '24h'
TEMPORARY_TABLE = 'telecom_lcr_quality_calls'

quality_cache = Cache('telecom_lcr.quality', context=False)


class BigInteger(fields.Integer):
    "Sums over millions of calls overflow a 32-bit integer"
    _sql_type = 'BIGINT'


def _ratio(numerator, denominator, digits):
    "numerator / denominator rounded half-up to ``digits``, or None"
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


class Cdr(metaclass=PoolMeta):
    __name__ = 'telecom.cdr'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The statistics read the last days of carrier attempts.
        cls._sql_indexes.add(Index(
                t, (t.start, Index.Range()), where=t.carrier != Null))


class CarrierQuality(ModelSQL, ModelView):
    """Carrier Quality

    Completion statistics of a carrier over a rolling window, for one
    destination group or, without group, for all its calls."""
    __name__ = 'telecom.carrier.quality'
    carrier = fields.Many2One(
        'telecom.carrier', "Carrier", required=True, readonly=True,
        ondelete='CASCADE')
    group = fields.Many2One(
        'telecom.destination.group', "Destination Group", readonly=True,
        ondelete='CASCADE',
        help="Empty: every call of the carrier, whatever the destination.")
    window = fields.Selection(
        WINDOW_SELECTION, "Window", required=True, readonly=True)
    attempts = fields.Integer(
        "Attempts", readonly=True,
        help="Calls handed to the carrier (one CDR each).")
    answered = fields.Integer("Answered", readonly=True)
    billable_seconds = BigInteger(
        "Billable Seconds", readonly=True,
        help="Billable seconds of the answered calls.")
    pdd_total_ms = BigInteger("Total PDD (ms)", readonly=True)
    pdd_samples = fields.Integer(
        "PDD Samples", readonly=True,
        help="Calls whose post-dial delay the switch reported.")
    asr = fields.Function(fields.Numeric(
            "ASR %", digits=(16, 2),
            help="Answer-seizure ratio: answered / attempts × 100."),
        'get_ratios')
    acd = fields.Function(fields.Numeric(
            "ACD (s)", digits=(16, 1),
            help="Average call duration: mean billable seconds of the "
            "answered calls."),
        'get_ratios')
    pdd = fields.Function(fields.Numeric(
            "PDD (s)", digits=(16, 3),
            help="Mean post-dial delay of the calls that report one; "
            "empty when none does."),
        'get_ratios')
    computed_at = fields.DateTime("Computed At", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('carrier')
        cls._order = [
            ('window', 'ASC'), ('carrier', 'ASC'), ('group', 'DESC'),
            ('id', 'ASC')]

    def get_ratios(self, name):
        return {
            'asr': _ratio(100 * self.answered, self.attempts, 2),
            'acd': _ratio(self.billable_seconds, self.answered, 1),
            'pdd': _ratio(self.pdd_total_ms, 1000 * self.pdd_samples, 3),
            }[name]

    def get_rec_name(self, name):
        group = self.group.rec_name if self.group else '*'
        return f'{self.carrier.rec_name} {group} ({self.window})'

    @classmethod
    def refresh(cls, now=None):
        """Recompute every statistic from the CDRs up to ``now`` (naive
        UTC, default the current time); return the rows written."""
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Carrier = pool.get('telecom.carrier')
        Prefix = pool.get('telecom.destination.prefix')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if now is None:
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        # The cron and the wizard at once would each write every row.
        advisory_lock('telecom.carrier.quality')
        cdr = Cdr.__table__()
        carrier = Carrier.__table__()
        prefix = Prefix.__table__()
        quality = cls.__table__()

        cursor.execute(*prefix.select(
                CharLength(prefix.prefix), group_by=[
                    CharLength(prefix.prefix)]))
        lengths = sorted((r[0] for r in cursor), reverse=True)
        calls = cdr.join(carrier, condition=cdr.carrier == carrier.code)
        groups = []
        for length in lengths:
            # One equality join per length: hash joins over the CDRs
            # instead of a lookup per CDR and per length.
            of_length = prefix.select(
                prefix.prefix, prefix.group,
                where=CharLength(prefix.prefix) == length)
            calls = calls.join(of_length, 'LEFT',
                condition=of_length.prefix == Substring(
                    cdr.callee, 1, length))
            groups.append(of_length.group)
        # Longest first: the longest matching prefix names the group.
        if len(groups) > 1:
            group = Coalesce(*groups)
        else:
            group = groups[0] if groups else Cast(Literal(None), 'INTEGER')
        since = {w: now - length for w, _, length in WINDOWS}
        answered = cdr.disposition == 'ANSWERED'
        rows = calls.select(
            carrier.id.as_('carrier'), group.as_('grp'),
            Case((cdr.start >= since['1h'], 0),
                (cdr.start >= since['24h'], 1), else_=2).as_('age'),
            Case((answered, 1), else_=0).as_('answered'),
            Case((answered, cdr.duration), else_=0).as_('seconds'),
            cdr.pdd_ms.as_('pdd_ms'),
            where=(cdr.carrier != Null)
            & (cdr.start >= since['7d']) & (cdr.start <= now)
            & (cdr.direction == 'outbound') & (cdr.service == 'voice'))
        aggregate = rows.select(
            rows.carrier, rows.grp, rows.age,
            Count(Literal(1)).as_('attempts'),
            Sum(rows.answered).as_('answered'),
            Sum(rows.seconds).as_('seconds'),
            Sum(rows.pdd_ms).as_('pdd_ms'),
            Count(rows.pdd_ms).as_('pdd_count'),
            group_by=[rows.carrier, rows.grp, rows.age])

        cursor.execute(f'DROP TABLE IF EXISTS "{TEMPORARY_TABLE}"')
        sql, params = tuple(aggregate)
        cursor.execute(
            f'CREATE TEMPORARY TABLE "{TEMPORARY_TABLE}" AS ' + sql, params)
        cursor.execute(*quality.delete())
        calls_table = Table(TEMPORARY_TABLE)
        columns = [
            quality.carrier, quality.group, quality.window, quality.attempts,
            quality.answered, quality.billable_seconds, quality.pdd_total_ms,
            quality.pdd_samples, quality.computed_at, quality.create_uid,
            quality.create_date]
        written = 0
        for window, age, _ in WINDOWS:
            def select(group, where, group_by):
                return calls_table.select(
                    calls_table.carrier, group, Literal(window),
                    Sum(calls_table.attempts), Sum(calls_table.answered),
                    Sum(calls_table.seconds),
                    Coalesce(Sum(calls_table.pdd_ms), 0),
                    Sum(calls_table.pdd_count), Literal(now),
                    Literal(transaction.user), CurrentTimestamp(),
                    where=(calls_table.age <= age) & where,
                    group_by=group_by)
            per_group = select(
                calls_table.grp, calls_table.grp != Null,
                [calls_table.carrier, calls_table.grp])
            overall = select(
                Cast(Literal(None), 'INTEGER'), calls_table.carrier != Null,
                [calls_table.carrier])
            for query in [per_group, overall]:
                cursor.execute(*quality.insert(columns, query))
                written += cursor.rowcount
        cursor.execute(f'DROP TABLE "{TEMPORARY_TABLE}"')
        forget_cached(cls)
        quality_cache.clear()
        return written

    @classmethod
    def refresh_cron(cls):
        "Every few minutes: statistics from the latest CDRs"
        cls.refresh()


def load_quality(window=ROUTING_WINDOW):
    """Return ``{(carrier id, destination group code or None):
    QualityStats}`` of ``window`` for ``route_call(..., stats=...)``.

    The key without group holds the carrier's statistics over all its
    calls; the engine uses it for numbers outside every group. Cached
    until the next refresh (in every process)."""
    cached = quality_cache.get(window)
    if cached is not None:
        return cached[0]
    pool = Pool()
    Quality = pool.get('telecom.carrier.quality')
    Group = pool.get('telecom.destination.group')
    quality = Quality.__table__()
    group = Group.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*quality.join(group, 'LEFT',
            condition=quality.group == group.id).select(
            quality.carrier, group.code, quality.attempts, quality.answered,
            quality.billable_seconds, quality.pdd_total_ms,
            quality.pdd_samples,
            where=quality.window == window))
    stats = {}
    for (carrier, code, attempts, answered, seconds, pdd_ms,
            pdd_samples) in cursor:
        stats[carrier, code] = QualityStats(
            _ratio(100 * answered, attempts, 2) or Decimal(0),
            _ratio(seconds, answered, 1) or Decimal(0),
            # Unknown PDD is 0: never over a policy's maximum.
            _ratio(pdd_ms, 1000 * pdd_samples, 3) or Decimal(0),
            attempts)
    # A tuple: the cache keeps a shallow copy.
    quality_cache.set(window, (stats,))
    return stats


class RefreshQualityStart(ModelView):
    "Refresh Carrier Quality"
    __name__ = 'telecom.carrier.quality.refresh.start'


class RefreshQuality(Wizard):
    "Refresh Carrier Quality"
    __name__ = 'telecom.carrier.quality.refresh'
    start = StateView(
        'telecom.carrier.quality.refresh.start',
        'telecom_lcr.carrier_quality_refresh_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Refresh", 'refresh', 'tryton-ok', default=True),
            ])
    refresh = StateTransition()

    def transition_refresh(self):
        pool = Pool()
        Quality = pool.get('telecom.carrier.quality')
        Quality.refresh()
        return 'end'

    def end(self):
        return 'reload'


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('telecom.carrier.quality|refresh_cron',
                "Refresh Carrier Quality Statistics"))
