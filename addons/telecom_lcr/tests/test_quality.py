"""Quality statistics from CDRs (F20) and their use by the quality
strategy, with hand-computed ASR, ACD and PDD."""
import datetime as dt
from decimal import Decimal

from trytond.modules.telecom_base.tests.tools import as_user, create_tenancy
from trytond.modules.telecom_lcr.engine import QualityStats, route_call
from trytond.modules.telecom_lcr.quality import load_quality
from trytond.modules.telecom_lcr.routing import load_routing
from trytond.modules.telecom_lcr.tests.database import LcrTestCase
from trytond.modules.telecom_lcr.tests.tools import create_carriers
from trytond.modules.telecom_rating.tests.tools import cdr, create_rating
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

NOW = dt.datetime(2026, 3, 2, 12, 0)
MOBILE = '447700900123'
FIXED = '442071234567'


def ago(**delta):
    return NOW - dt.timedelta(**delta)


def call(t, n, carrier, callee, start, duration, disposition, pdd=None,
        **values):
    return cdr(t.owner_customer, f'{carrier}-{n}', callee, start, duration,
        carrier=carrier, disposition=disposition, pdd_ms=pdd, **values)


class QualityTestCase(LcrTestCase):
    "Test the quality statistics of carriers"

    def stats(self, carrier, group, window):
        pool = Pool()
        Quality = pool.get('telecom.carrier.quality')
        record, = Quality.search([
                ('carrier', '=', carrier.id), ('group', '=', group),
                ('window', '=', window)])
        return (record.attempts, record.answered, record.asr, record.acd,
            record.pdd)

    @with_transaction()
    def test_statistics_by_window_and_group(self):
        "ASR, ACD and PDD per carrier, destination group and window"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Quality = pool.get('telecom.carrier.quality')
        t = create_carriers(create_rating(create_tenancy()))
        Cdr.ingest([
                call(t, 1, 'alpha', MOBILE, ago(minutes=10), 60, 'ANSWERED',
                    2000),
                call(t, 2, 'alpha', MOBILE, ago(minutes=20), 120,
                    'ANSWERED', 3000),
                call(t, 3, 'alpha', MOBILE, ago(minutes=30), 0, 'NO ANSWER'),
                call(t, 4, 'alpha', FIXED, ago(hours=2), 30, 'ANSWERED',
                    1000),
                call(t, 5, 'alpha', MOBILE, ago(days=3), 0, 'BUSY'),
                # Older than the longest window, after now, inbound,
                # another service, no carrier: not counted.
                call(t, 6, 'alpha', MOBILE, ago(days=8), 600, 'ANSWERED'),
                call(t, 7, 'alpha', MOBILE, ago(minutes=-5), 60, 'ANSWERED'),
                call(t, 8, 'alpha', MOBILE, ago(minutes=1), 60, 'ANSWERED',
                    direction='inbound'),
                call(t, 9, 'alpha', MOBILE, ago(minutes=1), 1, 'ANSWERED',
                    service='sms'),
                call(t, 10, None, MOBILE, ago(minutes=1), 60, 'ANSWERED'),
                call(t, 1, 'beta', MOBILE, ago(minutes=5), 45, 'ANSWERED',
                    500),
                ])
        # 3 windows × (alpha: group + all, beta: group + all)
        self.assertEqual(Quality.refresh(now=NOW), 12)

        uk = t.uk_mobile.id
        D = Decimal
        self.assertEqual(self.stats(t.alpha, uk, '1h'),
            (3, 2, D('66.67'), D('90.0'), D('2.500')))
        self.assertEqual(self.stats(t.alpha, None, '1h'),
            (3, 2, D('66.67'), D('90.0'), D('2.500')))
        self.assertEqual(self.stats(t.alpha, uk, '24h'),
            (3, 2, D('66.67'), D('90.0'), D('2.500')))
        self.assertEqual(self.stats(t.alpha, None, '24h'),
            (4, 3, D('75.00'), D('70.0'), D('2.000')))
        self.assertEqual(self.stats(t.alpha, uk, '7d'),
            (4, 2, D('50.00'), D('90.0'), D('2.500')))
        self.assertEqual(self.stats(t.alpha, None, '7d'),
            (5, 3, D('60.00'), D('70.0'), D('2.000')))
        self.assertEqual(self.stats(t.beta, uk, '1h'),
            (1, 1, D('100.00'), D('45.0'), D('0.500')))

        self.assertEqual(load_quality('24h'), {
                (t.alpha.id, 'uk-mobile'): QualityStats(
                    D('66.67'), D('90.0'), D('2.500'), 3),
                (t.alpha.id, None): QualityStats(
                    D('75.00'), D('70.0'), D('2.000'), 4),
                (t.beta.id, 'uk-mobile'): QualityStats(
                    D('100.00'), D('45.0'), D('0.500'), 1),
                (t.beta.id, None): QualityStats(
                    D('100.00'), D('45.0'), D('0.500'), 1),
                })

        # A refresh replaces: nothing in the last hour an hour later.
        Quality.refresh(now=NOW + dt.timedelta(hours=2))
        self.assertEqual(
            Quality.search([('window', '=', '1h')], count=True), 0)

    @with_transaction()
    def test_longest_prefix_names_the_group(self):
        "A longer prefix of another group wins over a shorter one"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Group = pool.get('telecom.destination.group')
        Quality = pool.get('telecom.carrier.quality')
        t = create_carriers(create_rating(create_tenancy()))
        vodafone, = Group.create([{
                    'code': 'uk-voda', 'name': "UK Vodafone",
                    'prefixes': [('create', [{'prefix': '447700'}])]}])
        Cdr.ingest([
                call(t, 1, 'alpha', MOBILE, ago(minutes=1), 10, 'ANSWERED'),
                call(t, 2, 'alpha', '447900900123', ago(minutes=1), 0,
                    'FAILED')])
        Quality.refresh(now=NOW)
        self.assertEqual(self.stats(t.alpha, vodafone.id, '1h')[:2], (1, 1))
        self.assertEqual(self.stats(t.alpha, t.uk_mobile.id, '1h')[:2],
            (1, 0))
        self.assertEqual(self.stats(t.alpha, None, '1h')[:2], (2, 1))

    @with_transaction()
    def test_quality_strategy_moves_a_failing_carrier_down(self):
        "When Beta's ASR drops under Alpha's, the quality policy puts it last"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Policy = pool.get('telecom.routing.policy')
        Quality = pool.get('telecom.carrier.quality')
        t = create_carriers(create_rating(create_tenancy()))
        Policy.write([t.policy], {'strategy': 'quality', 'min_samples': 4})
        alpha = [call(t, n, 'alpha', MOBILE, ago(minutes=n), 60,
                'ANSWERED' if n % 2 else 'NO ANSWER') for n in range(1, 9)]
        beta = [call(t, n, 'beta', MOBILE, ago(minutes=n), 60, 'ANSWERED')
            for n in range(1, 5)]
        Cdr.ingest(alpha + beta)
        Quality.refresh(now=NOW)

        def order():
            decision = route_call(load_routing(), t.owner_plan.id, 'voice',
                '', MOBILE, NOW.replace(tzinfo=dt.timezone.utc),
                stats=load_quality())
            return [r.carrier for r in decision.routes]
        # Alpha 50 %, Beta 100 %: Beta first (and it is cheaper anyway).
        self.assertEqual(order(), [t.beta.id, t.alpha.id])

        Cdr.ingest([call(t, n, 'beta', MOBILE, ago(minutes=n), 0, 'BUSY')
                for n in range(5, 13)])
        Quality.refresh(now=NOW)
        # Beta 4 of 12 = 33 % < Alpha 50 %: Beta moves down.
        self.assertEqual(order(), [t.alpha.id, t.beta.id])

    @with_transaction()
    def test_wizard_and_cron_refresh(self):
        "The back-office wizard and the cron refresh the statistics"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Quality = pool.get('telecom.carrier.quality')
        Cron = pool.get('ir.cron')
        Refresh = pool.get('telecom.carrier.quality.refresh', type='wizard')
        t = create_carriers(create_rating(create_tenancy()))
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        Cdr.ingest([cdr(t.owner_customer, 'c1', MOBILE,
                    now - dt.timedelta(minutes=2), 60, carrier='alpha')])
        session_id, _, _ = Refresh.create()
        Refresh.execute(session_id, {}, 'refresh')
        self.assertEqual(Quality.search([], count=True), 6)
        self.assertEqual(load_quality('1h')[t.alpha.id, None].samples, 1)

        Cdr.ingest([cdr(t.owner_customer, 'c2', MOBILE,
                    now - dt.timedelta(minutes=1), 0, carrier='alpha')])
        cron, = Cron.search([
                ('method', '=', 'telecom.carrier.quality|refresh_cron')])
        Cron.run_once([cron])
        # The cache was cleared by the refresh.
        self.assertEqual(load_quality('1h')[t.alpha.id, None].samples, 2)

    @with_transaction()
    def test_statistics_follow_the_carrier_tenant(self):
        "A reseller sees no statistics of its parent's carriers"
        pool = Pool()
        Cdr = pool.get('telecom.cdr')
        Quality = pool.get('telecom.carrier.quality')
        t = create_carriers(create_rating(create_tenancy()))
        Cdr.ingest([call(t, 1, 'alpha', MOBILE, ago(minutes=1), 9,
                    'ANSWERED')])
        Quality.refresh(now=NOW)
        self.assertEqual(Quality.search([], count=True), 6)
        with as_user(t.r1_user):
            self.assertEqual(Quality.search([]), [])
