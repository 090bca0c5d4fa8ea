"""The call-control API as a switch sees it: a real telecom-callcontrol
process over HTTP, on SQLite and on PostgreSQL.

Prices of the fixture (tests/e2e/callcontrol_fixture.py): UK numbers (44)
cost 0.60 EUR a minute in 1-second steps; UK mobiles (447) 1.20 a minute
in 60-second steps. Carriers: Alpha (44 at 0.01, 447 at 0.05), Beta (44 at
0.02, tech prefix 99).
"""
import asyncio
import base64
import concurrent.futures
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from . import tryton_exec
from .conftest import BIN, ROOT, free_port, wait_http
from tests.fixtures import stop_group

CONFIG = os.path.join(ROOT, 'etc', 'trytond.conf')
PG_URI = os.environ.get(
    'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')


def pg_available():
    return subprocess.run(
        ['psql', PG_URI.rstrip('/') + '/postgres', '-qtAc', 'SELECT 1'],
        capture_output=True).returncode == 0


def backends():
    yield 'sqlite'
    if os.environ.get('CI') == 'true' or pg_available():
        yield 'postgresql'


class Platform:
    "A database with the fixture and a call-control API serving it"

    def __init__(self, backend, tmp_path, gateways=None, api_args=()):
        """``gateways``: the carriers' (Alpha, Beta) host:port;
        ``api_args``: more flags of telecom-callcontrol ({database} is
        replaced by the database's name)."""
        self.backend = backend
        self.database = f'cc_{uuid.uuid4().hex[:8]}'
        self.env = {
            **os.environ,
            'TRYTOND_CACHE__CLEAN_TIMEOUT': '0',
            'TRYTOND_DATABASE__PATH': str(tmp_path),
            }
        for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
            self.env.pop(key, None)
        if backend == 'sqlite':
            self.env['TRYTOND_DATABASE__URI'] = 'sqlite://'
        else:
            self.env['TRYTOND_DATABASE__URI'] = PG_URI
        fixture_env = dict(self.env)
        if gateways:
            fixture_env['CALLCONTROL_GATEWAYS'] = ','.join(gateways)
        result = subprocess.run(
            [sys.executable, '-m', 'tests.e2e.callcontrol_fixture', CONFIG,
                self.database],
            env=fixture_env, cwd=ROOT, capture_output=True, text=True,
            timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        self.keys = json.loads(result.stdout.strip().splitlines()[-1])
        self.port = free_port()
        self.log_path = tmp_path / 'api.log'
        self.log = open(self.log_path, 'w')
        self.api_args = list(api_args)
        self.url = f'http://127.0.0.1:{self.port}'
        self.process = None
        # Every API started: its process group is stopped at the end.
        self.started = []
        self.session = tryton_exec.Session(
            CONFIG, self.database, self.env, ROOT)
        self.start_api()

    def start_api(self):
        "Start telecom-callcontrol (again) on the platform's port"
        self.process = subprocess.Popen(
            [os.path.join(BIN, 'telecom-callcontrol'), '-c', CONFIG,
                '-d', self.database, '--listen', f'127.0.0.1:{self.port}',
                '--refresh', '0.5', '--rater-poll', '0.3',
                *(a.format(database=self.database) for a in self.api_args)],
            env=self.env, cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(self.process)
        wait_http(self.url + '/health', timeout=120)

    def stop_api(self, kill=False):
        "Stop the API: SIGTERM, or SIGKILL (a crash) with ``kill``"
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def sql(self, query, *args):
        "Rows of a query, straight from PostgreSQL (fast, for polling)"
        import psycopg
        with psycopg.connect(PG_URI.rstrip('/') + '/' + self.database,
                autocommit=True) as connection:
            return connection.execute(query, args).fetchall()

    def stop(self):
        self.stop_api()
        # What an API killed on purpose (a crash) left behind, if anything.
        for process in self.started:
            stop_group(process, timeout=5)
        self.session.close()
        self.log.close()
        if self.backend == 'postgresql':
            subprocess.run(
                ['psql', PG_URI.rstrip('/') + '/postgres', '-qc',
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'],
                capture_output=True)

    def tryton(self, code):
        """Run ``code`` in a transaction of the database; return
        ``result`` (in one process kept for the platform: tryton_exec)"""
        return self.session.run(code)

    def client(self, key='owner_key'):
        headers = {'Authorization': f'Bearer {self.keys[key]}'} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def authorize(self, sip_username, callee, key='owner_key', **body):
        with self.client(key) as client:
            response = client.post('/v1/authorize', json={
                    'call_id': body.pop('call_id', uuid.uuid4().hex),
                    'callee': callee, 'sip_username': sip_username,
                    **body})
        assert response.status_code == 200, response.text
        return response.json()

    def wait_rated(self, call_id, timeout=30):
        """Wait until the rating worker rated the CDR of ``call_id`` (it
        rates apart from the request that stored it)"""
        code = f"""
Cdr = pool.get('telecom.cdr')
result = [c.state for c in Cdr.search([('call_id', '=', {call_id!r})])]
"""
        deadline = time.monotonic() + timeout
        while self.tryton(code) != ['rated']:
            assert time.monotonic() < deadline, f"{call_id} not rated"
            time.sleep(0.3)

    def live_calls(self, code):
        return self.tryton(f"""
LiveCall = pool.get('telecom.live_call')
result = [(c.call_id, c.state, str(c.reserved or 0))
    for c in LiveCall.search([('account.code', '=', {code!r})])]
""")


def children(pid):
    "The command lines of the child processes of ``pid`` (Linux /proc)"
    commands = []
    for task in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{task}/children') as file:
            for child in file.read().split():
                with open(f'/proc/{child}/cmdline', 'rb') as cmdline:
                    commands.append((int(child),
                            cmdline.read().replace(b'\0', b' ').decode()))
    return commands


def rater_of(platform, timeout=10):
    "The pid of the API's rating worker (waiting for it to be up)"
    deadline = time.monotonic() + timeout
    while True:
        pids = [pid for pid, command in children(platform.process.pid)
            if 'telecom_switch.api.rater' in command]
        if pids or time.monotonic() > deadline:
            return pids[0] if pids else None
        time.sleep(0.2)


def store_of(platform, min_size=1, max_size=2):
    "The call-control store of the platform's database, as the API's"
    from trytond.modules.telecom_switch.api import store as sql
    if platform.backend == 'sqlite':
        return sql.SQLiteStore(os.path.join(
                platform.env['TRYTOND_DATABASE__PATH'],
                platform.database + '.sqlite'))
    return sql.PostgreSQLStore(
        PG_URI.rstrip('/') + '/' + platform.database, min_size, max_size)


def run_async(function):
    """Run the coroutine function in a thread of its own: another test's
    fixture (Playwright's sync API) may hold this thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, function()).result()


@pytest.fixture(scope='module', params=list(backends()))
def platform(request, tmp_path_factory):
    if request.param == 'postgresql' and not pg_available():
        pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
    platform = Platform(request.param, tmp_path_factory.mktemp('cc'))
    try:
        yield platform
    finally:
        platform.stop()


def test_openapi_and_keys(platform):
    "The API documents itself and refuses calls without a known key"
    with platform.client(None) as client:
        document = client.get('/openapi.json').json()
        assert '/v1/authorize' in document['paths']
        assert client.post('/v1/authorize', json={}).status_code == 401
        response = client.post(
            '/v1/authorize', json={},
            headers={'Authorization': 'Bearer not-a-key'})
        assert response.status_code == 401


def test_key_as_basic_auth_password(platform):
    """Kamailio keeps its connections open only with basic-auth credentials:
    the key is accepted as the password, scoped to the switch's tenant as
    a bearer key is; a wrong or malformed one is a 401"""
    def post(credentials, sip_username='pp-user'):
        with platform.client(None) as client:
            return client.post('/v1/authorize', json={
                    'call_id': uuid.uuid4().hex, 'callee': '442079460000',
                    'sip_username': sip_username}, headers={
                    'Authorization': 'Basic ' + credentials})

    def basic(user, password):
        return base64.b64encode(f'{user}:{password}'.encode()).decode()
    answer = post(basic('kamailio', platform.keys['owner_key']))
    assert answer.status_code == 200
    assert answer.json()['decision'] == 'allow'
    # the reseller's switch, by its password, sees only its tenant
    other = post(basic('kamailio', platform.keys['r1_key'])).json()
    assert other['reason'] == 'unknown_account'
    own = post(basic('any', platform.keys['r1_key']), 'r1-user').json()
    assert own['decision'] == 'allow'
    # the key as the user name, or no password, or not base64: refused
    for credentials in (basic(platform.keys['owner_key'], ''),
            basic('kamailio', 'not-a-key'), 'not base64!',
            base64.b64encode(b'\xff\xfe:\xff').decode()):
        response = post(credentials)
        assert response.status_code == 401, credentials
        assert 'error' in response.json()


def test_store_commits_cdrs_durably(platform):
    """Slots and reservations are committed without waiting for the disk
    (docs/PERFORMANCE.md), CDRs durably: a switch forgets a CDR once the
    API accepted it. SQLite: every commit is synced."""
    from trytond.modules.telecom_rating import cdr_row
    from trytond.modules.telecom_switch.api.store import (
        PostgreSQLStore, SQLiteStore)
    if platform.backend == 'sqlite':
        store = SQLiteStore(os.path.join(
                platform.env['TRYTOND_DATABASE__PATH'],
                platform.database + '.sqlite'))

        async def check():
            try:
                # 2 = FULL: synced at every commit
                return await store.fetch('PRAGMA synchronous')
            finally:
                await store.close()
        assert run_async(check) == [(2,)]
        return
    store = PostgreSQLStore(
        PG_URI.rstrip('/') + '/' + platform.database, 1, 1)

    async def check():
        await store.pool.open()
        try:
            (session,), = await store.fetch('SHOW synchronous_commit')
            async with store.pool.cursor() as cursor:
                async with cursor.connection.transaction():
                    # no CDR at all: the statement still makes its
                    # transaction durable
                    await cursor.execute(store.CDR_STORE, (
                            store.now(), *[[]] * len(cdr_row.COLUMNS),
                            'telecom_test_nobody'))
                    (stored,), = await cursor.fetchall()
                    await cursor.execute('SHOW synchronous_commit')
                    (in_cdr_transaction,), = await cursor.fetchall()
            (after,), = await store.fetch('SHOW synchronous_commit')
            return session, stored, in_cdr_transaction, after
        finally:
            await store.close()
    assert run_async(check) == ('off', 0, 'on', 'off')


def test_outbound_allowed_with_routes(platform):
    "A postpaid customer's call is allowed with the carriers, cheapest first"
    answer = platform.authorize('pp-user', '02079460000')
    assert answer['decision'] == 'allow'
    assert answer['account'] == platform.keys['postpaid']
    assert answer['max_duration'] is None
    assert Decimal(answer['price_per_minute']) == Decimal('0.60')
    assert [r['carrier'] for r in answer['routes']] == ['alpha', 'beta']
    assert [r['uri'] for r in answer['routes']] == [
        'sip:442079460000@127.0.0.1:5071',
        'sip:99442079460000@127.0.0.1:5072']
    assert [r['uri'] for r in answer['rtjson']['routes']] == [
        r['uri'] for r in answer['routes']]
    # A switch never sees what the carriers cost.
    assert 'cost_per_minute' not in json.dumps(answer)


def test_identification(platform):
    "Accounts are found by SIP user, source IP + tech prefix, and DID"
    trunk = platform.authorize(
        None, '7301442079460000', source_ip='198.51.100.7')
    assert trunk['account'] == platform.keys['trunk']
    assert trunk['routes'][0]['uri'] == 'sip:442079460000@127.0.0.1:5071'
    inbound = platform.authorize(
        None, '442071230001', direction='inbound', caller='33142000000')
    assert inbound['decision'] == 'allow'
    assert inbound['account'] == platform.keys['limited']


def test_inbound_routes(platform):
    """An inbound call rings the line of its DID or of its SIP address
    (letters allowed), or the trunk of a wholesale DID; a DID of nobody
    is refused (issue 15, defect 7: allowed without routes before)"""
    for callee, domain in [('442071230002', None),
            ('reception', 'sip.example.net')]:
        answer = platform.authorize(None, callee, direction='inbound',
            caller='447700900123', sip_domain=domain)
        assert (answer['decision'], answer['account']) == (
            'allow', platform.keys['desk']), answer
        assert [(r['dialstring'], r['uri']) for r in answer['routes']] == [
            ('PJSIP/desk-phone', 'sip:desk-phone@sip.example.net')]
    trunk = platform.authorize(None, '+442071230003', direction='inbound')
    assert [r['dialstring'] for r in trunk['routes']] == [
        'PJSIP/442071230003@in-trunk-user']
    nobody = platform.authorize(None, '442071239999', direction='inbound')
    assert nobody['reason'] == 'unknown_account'
    # Letters are a SIP user inbound, never a number outbound.
    letters = platform.authorize('pp-user', 'reception')
    assert letters['reason'] == 'invalid_number'


def test_refusals(platform):
    "Unknown, suspended, and other tenants' accounts are refused"
    unknown = platform.authorize('nobody', '442079460000')
    assert (unknown['decision'], unknown['reason'], unknown['sip_code']) == (
        'deny', 'unknown_account', 403)
    suspended = platform.authorize('sus-user', '442079460000')
    assert suspended['reason'] == 'account_suspended'
    # The reseller's switch may not decide the owner's customers' calls …
    other = platform.authorize('pp-user', '442079460000', key='r1_key')
    assert other['reason'] == 'unknown_account'
    assert 'account' not in other
    # … but decides its own customer's.
    own = platform.authorize('r1-user', '442079460000', key='r1_key')
    assert own['decision'] == 'allow'
    # 0.60 + 50 % = 0.90 a minute
    assert Decimal(own['price_per_minute']) == Decimal('0.90')


def test_other_tenants_key_reaches_nothing(platform):
    """Every operation of /openapi.json called with the reseller's switch
    key on the owner's live call, customer and number: nothing of the
    owner's is read, found or changed (issue 16). A new operation fails
    here until its attack is written."""
    owner_call = f'own-{uuid.uuid4().hex[:8]}'
    assert platform.authorize('pp-user', '442079460000',
        call_id=owner_call)['decision'] == 'allow'
    code = platform.keys['postpaid']
    before = platform.live_calls(code)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    instant = (now - dt.timedelta(minutes=2)).isoformat()
    # The owner's call and customer addressed as the reseller's switch.
    attacks = {
        '/v1/authorize': {'call_id': f'x-{owner_call}',
            'callee': '442079460000', 'sip_username': 'pp-user'},
        '/v1/calls/{call_id}/answer': {'answered_at': instant},
        '/v1/calls/{call_id}/update': {},
        '/v1/calls/{call_id}/end': {'ended_at': instant, 'cause': 16},
        '/v1/cdrs': {'call_id': owner_call, 'callee': '442079460000',
            'account': code, 'start': instant, 'answer': instant,
            'end': now.isoformat(), 'billable_seconds': 60},
        '/v1/reconcile': {'calls': []},
        '/v1/vouchers/redeem': {'code': 'ANY-CODE', 'account': code},
        }
    with platform.client(None) as client:
        paths = client.get('/openapi.json').json()['paths']
    operations = {path for path, methods in paths.items()
        if 'post' in methods}
    assert operations == set(attacks), "an operation without its attack"
    with platform.client('r1_key') as client:
        for path, body in attacks.items():
            response = client.post(
                path.replace('{call_id}', owner_call), json=body)
            assert response.status_code < 500, (path, response.text)
            # Nothing of the owner's customer in the answer
            assert code not in response.text, (path, response.text)
            assert response.status_code != 200 or path in {
                '/v1/authorize', '/v1/cdrs', '/v1/reconcile'}, (
                path, response.text)
    assert platform.live_calls(code) == before
    assert platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = Cdr.search_count([('call_id', '=', {owner_call!r})])
""") == 0
    # And the owner's own switch still ends its call.
    with platform.client() as client:
        assert client.post(f'/v1/calls/{owner_call}/end',
            json={}).status_code == 204


def test_emergency_never_refused(platform):
    "An emergency call is routed even for a suspended account"
    answer = platform.authorize('sus-user', '112')
    assert (answer['decision'], answer['reason']) == ('allow', 'emergency')
    assert answer['routes'][0]['uri'] == 'sip:112@127.0.0.1:5079'
    assert answer['max_duration'] is None


def test_concurrency_limit_and_release(platform):
    "At the limit calls are refused; ending one frees its slot"
    first = platform.authorize('lim-user', '442079460000', call_id='lim-1')
    second = platform.authorize('lim-user', '442079460000', call_id='lim-2')
    third = platform.authorize('lim-user', '442079460000', call_id='lim-3')
    assert [first['decision'], second['decision'], third['decision']] == [
        'allow', 'allow', 'deny']
    assert (third['reason'], third['sip_code']) == ('concurrency_limit', 403)
    # The same call asked twice (a retry) is the same admission.
    again = platform.authorize('lim-user', '442079460000', call_id='lim-1')
    assert again['decision'] == 'allow'
    with platform.client() as client:
        assert client.post('/v1/calls/lim-1/end', json={
                'ended_at': '2026-11-25T10:00:00Z'}).status_code == 204
    fourth = platform.authorize('lim-user', '442079460000', call_id='lim-4')
    assert fourth['decision'] == 'allow'
    # Emergency calls are never limited.
    assert platform.authorize('lim-user', '999')['decision'] == 'allow'


def test_over_limit_admitted_at_extra_cost(platform):
    "An account that pays for it is admitted above its limit, flagged"
    first = platform.authorize('chg-user', '442079460000')
    second = platform.authorize('chg-user', '442079460000')
    assert (first['over_limit'], second['over_limit']) == (False, True)
    assert second['decision'] == 'allow'


def test_parallel_attempts_admit_exactly_the_limit(platform):
    "Many simultaneous attempts at a limit of 5 admit exactly 5"
    # The figure on the production backend; SQLite (the demo's)
    # serialises every write, so a smaller storm proves the same there.
    attempts = 10000 if platform.backend == 'postgresql' else 400

    async def storm():
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(
                base_url=platform.url, limits=limits, timeout=120,
                headers={'Authorization':
                    f"Bearer {platform.keys['owner_key']}"}) as client:
            # 64 in flight at a time: httpx's pool scans its queue on
            # every request (quadratic with 2,000 queued).
            in_flight = asyncio.Semaphore(64)

            async def one(i):
                async with in_flight:
                    response = await client.post('/v1/authorize', json={
                            'call_id': f'storm-{i}',
                            'callee': '442079460000',
                            'sip_username': 'crowd-user'})
                return response.json()['decision']
            return await asyncio.gather(*(one(i) for i in range(attempts)))
    decisions = run_async(storm)
    assert decisions.count('allow') == 5
    assert decisions.count('deny') == attempts - 5


def test_prepaid_reservations_never_exceed_balance(platform):
    "Parallel prepaid calls are granted at most the balance, together"
    # 10.00 EUR at 0.60 a minute: 1000 seconds in all.
    async def calls():
        async with httpx.AsyncClient(
                base_url=platform.url, timeout=60, headers={
                    'Authorization':
                    f"Bearer {platform.keys['owner_key']}"}) as client:
            async def one(i):
                response = await client.post('/v1/authorize', json={
                        'call_id': f'many-{i}', 'callee': '442079460000',
                        'sip_username': 'many-user'})
                return response.json()
            return await asyncio.gather(*(one(i) for i in range(20)))
    answers = run_async(calls)
    granted = [a['max_duration'] for a in answers if a['decision'] == 'allow']
    assert granted, answers
    assert sum(granted) <= 1000
    # The first call takes what the balance allows, capped per call at
    # 4 hours: here the whole 1000 s; every later one finds nothing left.
    assert sum(granted) == 1000
    assert all(a['reason'] == 'insufficient_credit'
        for a in answers if a['decision'] == 'deny')


def test_prepaid_call_end_cdr_and_balance(platform):
    "A prepaid call: max duration, CDR stored once, rated, balance falls"
    # 1.00 EUR at 0.60 a minute in 1-second steps: 100 seconds.
    answer = platform.authorize(
        'pre-user', '02079460000', call_id='pre-1',
        caller='442071230000')
    assert answer['decision'] == 'allow'
    assert answer['max_duration'] == 100
    # A second call finds the balance reserved.
    second = platform.authorize('pre-user', '02079460000')
    assert second['reason'] == 'insufficient_credit'
    with platform.client() as client:
        assert client.post('/v1/calls/pre-1/answer', json={
                'answered_at': '2026-11-25T10:00:00+01:00'}
            ).status_code == 204
        assert client.post('/v1/calls/pre-1/end', json={
                'ended_at': '2026-11-25T10:00:30+01:00'}).status_code == 204
        cdr = {
            'call_id': 'pre-1', 'caller': '442071230000',
            'callee': '442079460000', 'start': '2026-11-25T09:59:50+01:00',
            'answer': '2026-11-25T10:00:00+01:00',
            'end': '2026-11-25T10:00:30+01:00', 'billable_seconds': 30,
            'hangup_cause': 16}
        assert client.post('/v1/cdrs', json=cdr).json() == {
            'accepted': 1, 'duplicates': 0, 'rejected': [], 'ignored': []}
        assert client.post('/v1/cdrs', json={'cdrs': [cdr]}).json() == {
            'accepted': 0, 'duplicates': 1, 'rejected': [], 'ignored': []}
    # Stored at once, rated by the rating worker a moment later.
    platform.wait_rated('pre-1')
    state = platform.tryton(f"""
Account = pool.get('telecom.account')
Cdr = pool.get('telecom.cdr')
account, = Account.search([('code', '=', {platform.keys['prepaid']!r})])
call, = Cdr.search([('call_id', '=', 'pre-1')])
result = [str(account.balance), call.state,
    [str(c.amount) for c in call.charges]]
""")
    # 30 s at 0.60 a minute = 0.30: 1.00 − 0.30 = 0.70
    balance, cdr_state, amounts = state
    assert Decimal(balance) == Decimal('0.70')
    assert cdr_state == 'rated'
    assert [Decimal(a) for a in amounts] == [Decimal('0.30')]
    # The rated call's reservation is gone: 0.70 buys 70 seconds.
    assert platform.live_calls(platform.keys['prepaid']) == []
    again = platform.authorize('pre-user', '02079460000')
    assert again['max_duration'] == 70


def test_rating_worker_restarted_after_a_crash(platform):
    "The API restarts its rating worker when it dies; CDRs are rated again"
    first = rater_of(platform)
    assert first
    os.kill(first, 9)
    deadline = time.monotonic() + 10
    while rater_of(platform) in (None, first):
        assert time.monotonic() < deadline, children(platform.process.pid)
        time.sleep(0.2)
    answer = platform.authorize('pp-user', '02079460000', call_id='crash-1')
    assert answer['decision'] == 'allow'
    with platform.client() as client:
        assert client.post('/v1/cdrs', json={
                'call_id': 'crash-1', 'callee': '442079460000',
                'start': '2026-11-25T10:00:00Z',
                'answer': '2026-11-25T10:00:01Z',
                'end': '2026-11-25T10:00:11Z', 'billable_seconds': 10,
                }).json()['accepted'] == 1
    platform.wait_rated('crash-1')
    # Rated: its cost is on the books, its live call released.
    assert 'crash-1' not in [c for c, _, _ in platform.live_calls(
                platform.keys['postpaid'])]


def test_cdr_rejections(platform):
    "A CDR for no known call or account is rejected with its reason"
    with platform.client() as client:
        result = client.post('/v1/cdrs', json={'cdrs': [
                    {'call_id': 'ghost', 'callee': '442079460000',
                        'start': '2026-11-25T10:00:00Z',
                        'end': '2026-11-25T10:01:00Z',
                        'billable_seconds': 60},
                    {'call_id': 'bad', 'callee': 'x',
                        'start': 'yesterday', 'billable_seconds': -1},
                    ]}).json()
    assert result['accepted'] == 0
    assert [r['index'] for r in result['rejected']] == [1, 0]
    assert 'callee' in result['rejected'][0]['reason']
    assert 'unknown account' in result['rejected'][1]['reason']
    assert result['ignored'] == []


def test_cdrs_of_unbilled_calls_ignored_with_reason(platform):
    """Kamailio's CDR of an emergency call (routed without asking, no
    account) and the ARI bridge's CDR of a call the API denied (no account,
    never answered) are not errors: ignored, each with its reason"""
    emergency = {'call_id': 'kam-112', 'callee': '112', 'account': None,
        'start': '2026-11-25T10:00:00Z', 'answer': '2026-11-25T10:00:02Z',
        'end': '2026-11-25T10:03:02Z', 'billable_seconds': 180,
        'disposition': 'ANSWERED', 'hangup_cause': 16}
    denied = {'call_id': 'ari-denied', 'callee': '442079460000',
        'account': None, 'start': '2026-11-25T10:00:00Z', 'answer': None,
        'end': '2026-11-25T10:00:00Z', 'billable_seconds': 0,
        'disposition': 'FAILED', 'hangup_cause': 21}
    with platform.client() as client:
        result = client.post('/v1/cdrs', json={
                'cdrs': [emergency, denied]}).json()
    assert (result['accepted'], result['duplicates'], result['rejected']) == (
        0, 0, [])
    assert [i['index'] for i in result['ignored']] == [0, 1]
    assert 'emergency' in result['ignored'][0]['reason']
    assert 'never authorized nor answered' in result['ignored'][1]['reason']
    assert platform.tryton("""
Cdr = pool.get('telecom.cdr')
result = Cdr.search_count([('call_id', 'in', ['kam-112', 'ari-denied'])])
""") == 0


@pytest.mark.parametrize('body, status, field', [
        (b'{not json', 400, 'body'),
        (b'[]', 400, 'body'),
        (b'{"call_id": 5, "callee": "1"}', 400, 'call_id'),
        # Letters are a SIP address's user part (F5); a space, '<' or
        # '@' is no callee at all.
        (b'{"call_id": "x", "callee": "12 ab"}', 400, 'callee'),
        (b'{"call_id": "x", "callee": "<sip:a@b>"}', 400, 'callee'),
        (b'{"call_id": "x; DROP TABLE", "callee": "1"}', 400, 'call_id'),
        (b'{"call_id": "<script>", "callee": "1"}', 400, 'call_id'),
        (b'{"call_id": "x", "callee": "1", "direction": "up"}', 400,
            'direction'),
        (b'{"call_id": "x", "callee": "1", "sip_username": []}', 400,
            'sip_username'),
        (b'{"call_id": "x", "callee": "' + b'1' * 100 + b'"}', 400,
            'callee'),
        (b'{"a": "' + b'x' * 100000 + b'"}', 413, None),
        ])
def test_bad_input(platform, body, status, field):
    "Bad requests get a 4xx naming the field; the service stays up"
    with platform.client() as client:
        response = client.post(
            '/v1/authorize', content=body,
            headers={'Content-Type': 'application/json'})
        assert response.status_code == status, response.text
        if field:
            assert response.json()['field'] == field
        assert client.get('/health').status_code == 200


def test_price_change_is_live(platform):
    "A new price is used by the next decision, without a restart"
    platform.tryton("""
Rate = pool.get('telecom.rate')
rate, = Rate.search([('prefix', '=', '44'), ('plan.name', '=', 'Retail')])
Rate.write([rate], {'price': Decimal('0.7500')})
result = True
""".replace("Decimal", "__import__('decimal').Decimal"))
    deadline = time.monotonic() + 20
    while True:
        answer = platform.authorize('pp-user', '442079460000')
        if Decimal(answer['price_per_minute']) == Decimal('0.75'):
            break
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)


def test_expiry_and_rating_take_counter_rows_in_account_order(platform):
    """The expiry drops the live calls whose TTL passed (no end came) and
    keeps the others. On PostgreSQL it uncounts them from their accounts'
    counter rows, locking those in account order first, as rating does
    when a CDR comes before its call's end: a rating transaction that
    holds account A's row and then needs B's, while the expiry drops
    calls of B and then A, waits for the expiry or the expiry for it —
    never both (a deadlock, one of them aborted)."""
    from trytond.modules.telecom_switch.api import store as sql
    switch, prefix = 990002, uuid.uuid4().hex[:8]
    a, b = 990021, 990022
    now = sql.Store.now().replace(microsecond=0)
    past, future = now - dt.timedelta(minutes=5), now + dt.timedelta(hours=1)
    rows = [  # B's expired call first: scan order (and expires_at order)
        (f'{prefix}-b1', b, now - dt.timedelta(minutes=2)),
        (f'{prefix}-a1', a, now - dt.timedelta(minutes=1)),
        (f'{prefix}-a2', a, future),
        (f'{prefix}-b2', b, future),
        ]
    insert = (
        "INSERT INTO telecom_live_call (switch, call_id, leg, account, "
        "direction, callee, state, authorized_at, expires_at, reserved, "
        "over_limit, emergency, create_uid, create_date) VALUES (?, ?, 'a', "
        "?, 'outbound', '442079460000', 'authorized', ?, ?, 0, false, "
        "false, 0, ?)")
    if platform.backend == 'sqlite':
        store = sql.SQLiteStore(os.path.join(
                platform.env['TRYTOND_DATABASE__PATH'],
                platform.database + '.sqlite'))

        async def expire_alone():
            for call_id, account, expires in rows:
                await store.execute(store.q(insert), switch, call_id,
                    account, past, expires, past)
            try:
                await store.expire(now)
                return await store.fetch(store.q(
                        "SELECT call_id FROM telecom_live_call "
                        "WHERE switch = ? ORDER BY call_id"), switch)
            finally:
                await store.close()
        left = run_async(expire_alone)
        assert [r[0] for r in left] == [f'{prefix}-a2', f'{prefix}-b2']
        return

    import psycopg
    uri = PG_URI.rstrip('/') + '/' + platform.database
    store = sql.PostgreSQLStore(uri, 1, 2)
    rating = psycopg.connect(uri)
    try:
        rating.execute("SET lock_timeout = '10s'")
        rating.commit()
        for call_id, account, expires in rows:
            rating.execute(insert.replace('?', '%s'),
                (switch, call_id, account, past, expires, past))
        rating.commit()

        async def race():
            await store.open()
            try:
                # rating drops A's live call: its transaction holds A's
                # counter row until it commits
                rating.execute("DELETE FROM telecom_live_call "
                    "WHERE call_id = %s", (f'{prefix}-a2',))
                expiry = asyncio.ensure_future(store.expire(now))
                await asyncio.sleep(0.5)
                # ... then B's: B's row must be free, the expiry waiting
                # for A's before it locked B's
                await asyncio.to_thread(rating.execute,
                    "DELETE FROM telecom_live_call WHERE call_id = %s",
                    (f'{prefix}-b2',))
                rating.commit()
                # no error: neither was aborted for a deadlock
                await asyncio.wait_for(expiry, 10)
            finally:
                await store.close()
        run_async(race)
    finally:
        rating.rollback()
        rating.close()
    assert platform.sql("SELECT call_id FROM telecom_live_call "
        "WHERE switch = %s", switch) == []
    assert platform.sql("SELECT account, total, outbound, reserved "
        "FROM telecom_live_call_count WHERE account IN (%s, %s) "
        "ORDER BY account", a, b) == [(a, 0, 0, 0), (b, 0, 0, 0)]


def test_admissions_match_the_live_calls_after_random_events(platform):
    """A seeded random life of calls — admissions (limits, over-limit at a
    cost, a credit limit), answers, ends, the TTL passing, the expiry
    loop, reconcile and rating dropping rows — decided by the store as by
    counting the live rows (``store.decide``, the reference), on both
    backends. PostgreSQL decides from a counter row per account kept by
    triggers: after every event it equals the rows it counts, and a start
    counts it again from the rows."""
    import random

    from trytond.modules.telecom_switch.api import store as sql
    store = store_of(platform)
    switch, prefix = 990001, uuid.uuid4().hex[:8]
    # Accounts with no telecom_account row (the live call has no foreign
    # key): balance 0, so the money account spends its credit limit.
    limits = {
        990001: (sql.Limits(outbound=3, inbound=2, total=4), None),
        990002: (sql.Limits(total=2, over_limit='charge'), None),
        # 1.50 of credit at 0.01 a second: 150 seconds in all
        990003: (sql.Limits(outbound=5), Decimal('1.50')),
        }
    clock = [sql.Store.now().replace(microsecond=0)]
    store.now = lambda: clock[0]
    rows = {}   # call id -> the model's row

    def counted(now):
        "What the reference counts: live calls not expired"
        return [r for r in rows.values() if r['expires'] > now]

    def request(call_id, account, direction):
        account_limits, credit = limits[account]
        return sql.Request(switch, call_id, 'a', account, direction,
            '442079460000', False, account_limits, credit, False,
            lambda seconds: Decimal('0.01') * seconds, Decimal('0.60'),
            120, 600)

    async def life():
        if platform.backend == 'postgresql':
            await store.open()
        rng = random.Random(5)
        decisions = Counter()
        try:
            for step in range(400):
                now = clock[0]
                live = sorted(rows)
                event = rng.choice(['admit'] * 5 + [
                        'answer', 'end', 'end', 'time', 'expire', 'forget',
                        'rate'])
                if event == 'admit' or not live:
                    call_id = f'{prefix}-{step}'
                    account = rng.choice(list(limits))
                    direction = rng.choice(['outbound', 'inbound'])
                    asked = request(call_id, account, direction)
                    mine = [r for r in counted(now)
                        if r['account'] == account]
                    expected = sql.decide(asked, Counter(
                            r['direction'] for r in mine
                            if r['state'] != 'ended'),
                        sum((r['reserved'] for r in mine), Decimal(0)),
                        None)
                    got = await store.admit(asked)
                    assert (got.allowed, got.reason, got.max_duration,
                        got.reserved, got.over_limit) == (
                        expected.allowed, expected.reason,
                        expected.max_duration, expected.reserved,
                        expected.over_limit), (step, account, direction)
                    decisions[got.reason, got.over_limit] += 1
                    if got.allowed:
                        rows[call_id] = {
                            'account': account, 'direction': direction,
                            'state': 'authorized', 'answered': None,
                            'reserved': got.reserved,
                            'expires': store.insert_values(
                                asked, got, now)[7]}
                    continue
                call_id = rng.choice(live)
                row = rows[call_id]
                if event == 'answer':
                    await store.execute(store.q(sql.ANSWER), now, switch,
                        call_id, 'a')
                    if row['state'] == 'authorized':
                        row.update(state='answered', answered=now)
                elif event == 'end':
                    expires = now + dt.timedelta(
                        seconds=rng.randint(10, 200))
                    await store.end(switch, call_id, 'a', now, expires)
                    if row['state'] != 'ended':
                        # the slot freed, the reservation kept until
                        # the CDR is rated
                        row.update(state='ended', expires=expires)
                elif event == 'time':
                    clock[0] += dt.timedelta(seconds=rng.randint(1, 90))
                elif event == 'expire':
                    await store.expire(now)
                    for key in [k for k, r in rows.items()
                            if r['expires'] <= now]:
                        del rows[key]
                else:
                    # reconcile forgets the call; rating its CDR deletes
                    # the row the same way, ended or not
                    await store.execute(
                        store.q(sql.FORGET), switch, call_id, 'a')
                    del rows[call_id]
                if platform.backend == 'postgresql':
                    await check_counter(step)
            if platform.backend == 'postgresql':
                # Admissions and ends at once on 8 connections at a limit
                # of 2 (each allowed call ended at once): some refused,
                # and the counter lost no update on the way.
                crowd = sql.PostgreSQLStore(
                    PG_URI.rstrip('/') + '/' + platform.database, 8, 8)
                await crowd.pool.open()
                limits[990004] = (sql.Limits(total=2), None)

                async def call(i):
                    call_id = f'{prefix}-crowd-{i}'
                    got = await crowd.admit(
                        request(call_id, 990004, 'outbound'))
                    if got.allowed:
                        await crowd.end(switch, call_id, 'a', now, now)
                    return got.allowed
                try:
                    allowed = await asyncio.gather(
                        *(call(i) for i in range(400)))
                finally:
                    await crowd.close()
                assert 2 <= sum(allowed) < 400, sum(allowed)
                (live,), = await store.fetch(
                    "SELECT COUNT(*) FROM telecom_live_call "
                    "WHERE account = 990004 AND state != 'ended'")
                assert live == 0
                await check_counter('crowd')
                # A counter gone wrong (a restore without the triggers) is
                # right again after the next start.
                await store.execute(
                    'UPDATE telecom_live_call_count SET total = total + 7')
                await store.open()
                await check_counter('restart')
        finally:
            await store.close()
        return decisions

    async def check_counter(step):
        counters = await store.fetch(
            "SELECT account, total, outbound, inbound, reserved, "
            "next_expiry FROM telecom_live_call_count "
            "WHERE account >= 990001 AND total + outbound + inbound > 0 "
            "ORDER BY account")
        database = await store.fetch(
            "SELECT account, COUNT(*), "
            "COUNT(*) FILTER (WHERE direction = 'outbound'), "
            "COUNT(*) FILTER (WHERE direction = 'inbound'), "
            "SUM(reserved), MIN(expires_at) FROM telecom_live_call "
            "WHERE account >= 990001 AND state != 'ended' "
            "GROUP BY account ORDER BY account")
        assert [c[:5] for c in counters] == [d[:5] for d in database], step
        # never later than the earliest TTL it stands for
        for counter, rows_of in zip(counters, database):
            assert counter[5] <= rows_of[5], step

    decisions = run_async(life)
    # The sequence reached every kind of decision it is about.
    assert {reason for reason, _ in decisions} == {
        'ok', 'concurrency_limit', 'insufficient_credit'}, decisions
    assert decisions['ok', True], decisions
