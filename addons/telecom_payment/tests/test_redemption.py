"""Redemption of one voucher by several callers at once, and by phone
through the call-control API, on a database set up once and committed:
concurrent transactions must see the voucher."""
import asyncio
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from trytond import backend
from trytond.modules.telecom_base.tests.tools import (
    create_customer, create_tenancy)
from trytond.modules.telecom_payment.exceptions import RedemptionError
from trytond.modules.telecom_payment.voucher import printed
from trytond.modules.telecom_switch.api.server import (
    CallControl, errors, make_app)
from trytond.modules.telecom_switch.api.snapshot import SwitchInfo
from trytond.modules.telecom_switch.api.vouchers import Vouchers
from trytond.modules.telecom_switch.switch import hash_key
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase, with_transaction
from trytond.transaction import Transaction, TransactionError

from .test_module import create_batch
from .tools import as_root, create_prepaid_books

KEY = 'r2-switch-key-0123456789'


class VoucherRedemptionTestCase(RouteTestCase):
    """A database test case (RouteTestCase: activation and a set-up hook,
    without ModuleTestCase's checks, which test_module.py runs)."""
    module = 'telecom_payment'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Committed: the concurrent transactions must see it.
        as_root(DB_NAME, lambda pool: cls.create_fixture())

    @classmethod
    def create_fixture(cls):
        pool = Pool()
        Number = pool.get('telecom.number')
        t = create_tenancy()
        create_prepaid_books(t.r2)
        second = create_customer("R2 Second", t.r2, flavour='residential',
            billing_mode='prepaid')
        Number.create([{'number': '442071239999',
                    'account': t.r2_customer.id}])
        batch = create_batch(t.owner, '5.00', 6)
        cls.codes = [v.code for v in batch.vouchers]
        cls.accounts = [t.r2_customer.id, second.id]
        cls.account_codes = [t.r2_customer.code, second.code]
        cls.r2, cls.r3 = t.r2.id, t.r3.id
        cls.r3_account_code = t.r3_customer.code

    def credits(self, transaction_user=1):
        "(balance, voucher movements) of both accounts, read afresh"
        with Transaction().start(DB_NAME, transaction_user):
            pool = Pool()
            Account = pool.get('telecom.account')
            BalanceLine = pool.get('telecom.balance.line')
            return [(Account(i).balance, BalanceLine.search([
                            ('account', '=', i), ('kind', '=', 'voucher')],
                        count=True)) for i in self.accounts]

    def attempt(self, code, account_id, barrier=None):
        """Redeem in a transaction of its own, as trytond's dispatcher
        runs a request: again with the table locks it asks for, again
        when PostgreSQL says a concurrent redemption committed first."""
        extras = {}
        for attempt in range(10):
            try:
                with Transaction().start(
                        DB_NAME, 1, **extras) as transaction:
                    pool = Pool()
                    Account = pool.get('telecom.account')
                    Voucher = pool.get('telecom.voucher')
                    account = Account(account_id)
                    account.billing_mode  # the snapshot is taken here
                    if barrier is not None:
                        barrier.wait(timeout=30)
                        barrier = None
                    try:
                        amount = Voucher.redeem(code, account)
                    except RedemptionError as exception:
                        return exception.reason
                    except TransactionError as exception:
                        transaction.rollback()
                        exception.fix(extras)
                        continue
                    transaction.commit()
                    return amount
            except backend.DatabaseOperationalError:
                # Serialization failure, or a table lock (NOWAIT) held by
                # the other: as trytond's dispatcher, wait and retry.
                time.sleep(0.05 * (attempt + 1))
        return 'gave up'

    def test_serialized_redemption(self):
        "Two redemptions one after the other: the second is refused"
        code = self.codes[0]
        before = self.credits()
        self.assertEqual(self.attempt(code, self.accounts[0]),
            Decimal('5.00'))
        self.assertEqual(self.attempt(code, self.accounts[1]), 'redeemed')
        after = self.credits()
        self.assertEqual(after[0][0] - before[0][0], Decimal('5.00'))
        self.assertEqual(after[1], before[1])

    def test_concurrent_redemption(self):
        "Two callers redeem one code at the same instant: one credit"
        if backend.name == 'sqlite':
            # SQLite has one writer at a time (and :memory: databases are
            # per thread): test_serialized_redemption covers it.
            self.skipTest("SQLite cannot run concurrent transactions")
        before = self.credits()
        code = self.codes[1]
        barrier = threading.Barrier(2)
        results = [None, None]

        def run(i):
            try:
                results[i] = self.attempt(code, self.accounts[i], barrier)
            except Exception as exception:
                results[i] = repr(exception)
        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(sorted(map(str, results)), ['5.00', 'redeemed'])
        after = self.credits()
        self.assertEqual(
            sum(a[0] for a in after) - sum(b[0] for b in before),
            Decimal('5.00'))
        self.assertEqual(
            sum(a[1] for a in after) - sum(b[1] for b in before), 1)

    def api(self, requests):
        """Post ``requests`` (bodies) to /v1/vouchers/redeem of the app
        with R2's switch; the Tryton work runs inline, in this
        transaction; return [(status, answer)]."""
        control = CallControl(DB_NAME, store=None)
        control.snapshot = SimpleNamespace(switches={
                hash_key(KEY): SwitchInfo(1, 'r2-switch', self.r2,
                    frozenset({self.r2}), None)})

        retry = []

        async def inline(work):
            try:
                return work(Pool())
            except TransactionError as exception:
                # Handed to with_transaction, which runs the test again
                # with the locks asked for, as the worker would.
                retry.append(exception)
                raise

        # make_app serves the route (its Tryton work in worker threads);
        # here the same handler runs its work inline, in this transaction.
        self.assertIn('/v1/vouchers/redeem', [r.canonical
                for r in make_app(control).router.resources()])

        async def run():
            app = web.Application(middlewares=[errors])
            app.router.add_post('/v1/vouchers/redeem',
                Vouchers(control, tryton=inline).redeem)
            answers = []
            async with TestClient(TestServer(app)) as client:
                for body, key in requests:
                    response = await client.post('/v1/vouchers/redeem',
                        json=body, headers={
                            'Authorization': f'Bearer {key}'})
                    answers.append((response.status, await response.json()))
            return answers
        answers = asyncio.run(run())
        if retry:
            raise retry[0]
        return answers

    @with_transaction()
    def test_api(self):
        "By phone: by account or caller number; refusals with reasons"
        code, other = self.codes[2], self.codes[3]
        answers = self.api([
                ({'code': printed(code), 'account': self.account_codes[0]},
                    KEY),
                ({'code': code, 'account': self.account_codes[0]}, KEY),
                ({'code': other.lower(), 'caller': '+442071239999'}, KEY),
                ({'code': self.codes[4], 'account': self.r3_account_code},
                    KEY),
                ({'code': 'NOPE-NOPE', 'account': self.account_codes[1]},
                    KEY),
                ({'code': self.codes[4]}, KEY),
                ({'code': self.codes[4], 'account': self.account_codes[1]},
                    'wrong-key'),
                ])
        self.assertEqual(answers[0], (200, {'result': 'credited',
                    'account': self.account_codes[0], 'amount': '5.00',
                    'currency': 'EUR', 'balance': '5.00'}))
        status, answer = answers[1]
        self.assertEqual((status, answer['reason']), (422, 'redeemed'))
        self.assertIn("already redeemed", answer['error'])
        self.assertEqual(answers[2][0], 200)
        self.assertEqual(answers[2][1]['balance'], '10.00')
        # R3's account is not one of this switch's tenants: not named.
        self.assertEqual(answers[3][0], 404)
        self.assertEqual(answers[3][1]['reason'], 'unknown_account')
        self.assertNotIn('R3', answers[3][1]['error'])
        self.assertEqual(answers[4][0], 422)
        self.assertEqual(answers[4][1]['reason'], 'unknown')
        self.assertEqual(answers[5], (400, {'error': "give either account "
                    "or caller", 'field': 'account'}))
        self.assertEqual(answers[6][0], 401)
        # Refusals changed nothing: only the two credits.
        Account = Pool().get('telecom.account')
        self.assertEqual(Account(self.accounts[0]).balance, Decimal('10.00'))
        self.assertEqual(Account(self.accounts[1]).balance, Decimal(0))


del RouteTestCase
