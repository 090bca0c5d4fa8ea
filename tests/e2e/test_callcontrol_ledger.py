"""The money side of call control over HTTP, on SQLite and PostgreSQL:
reservations in any order of the switch's events, credit limits counting
what was already spent.

The fixture's UK numbers (44) cost 0.60 EUR a minute in 1-second steps
(tests/e2e/callcontrol_fixture.py): 1.00 EUR buys 100 seconds.
"""
import asyncio
import datetime as dt
import itertools
import json
import time
import uuid
from decimal import Decimal

import httpx
import pytest

from .test_callcontrol import (
    Platform, backends, pg_available, run_async, store_of)

UTC = dt.timezone.utc


@pytest.fixture(scope='module', params=list(backends()))
def platform(request, tmp_path_factory):
    if request.param == 'postgresql' and not pg_available():
        pytest.fail("PostgreSQL must answer under CI")
    platform = Platform(request.param, tmp_path_factory.mktemp('ledger'))
    try:
        yield platform
    finally:
        platform.stop()


def make_accounts(platform, accounts):
    """Create accounts {sip user: values}, each with a SIP credential of
    that user name and the fixture's retail plan; values may carry a
    ``topup``. Return {sip user: account code}. The API sees them at its
    next snapshot refresh (half a second here)."""
    if platform.backend == 'sqlite':
        # Tryton on SQLite keeps a cache's reset time to the second
        # (trytond/cache.py reads ir_cache through DATETIME()): another
        # process misses a second reset within the same second, and the
        # API's snapshot missed these accounts until some later change
        # (seen twice in make test; see the closing note of 2026-12-07).
        # Not this test's subject: start in a new second.
        time.sleep(1.1)
    codes = platform.tryton(f"""
from decimal import Decimal
pool_get = pool.get
Account, Party = pool_get('telecom.account'), pool_get('party.party')
Plan = pool_get('telecom.rate.plan')
BalanceLine = pool_get('telecom.balance.line')
template, = Account.search([('code', '=', {platform.keys['postpaid']!r})])
result = {{}}
for user, values in {accounts!r}.items():
    values = dict(values)
    topup = values.pop('topup', None)
    party, = Party.create([{{'name': user, 'tenant': template.company.id}}])
    account, = Account.create([{{
        'party': party.id, 'company': template.company.id,
        'currency': template.currency.id, 'country': template.country.id,
        'national_prefix': '0', 'international_prefix': '00',
        'rate_plans': [('add', [p.id for p in template.rate_plans])],
        'credentials': [('create', [{{'kind': 'sip', 'username': user,
            'realm': 'sip.example.net', 'password': user + '-secret'}}])],
        **values}}])
    if topup:
        BalanceLine.add_movements([{{'account': account.id,
            'amount': Decimal(topup), 'kind': 'topup'}}])
    result[user] = account.code
""")
    # Wait until the API's snapshot knows the last of them.
    last = list(accounts)[-1]
    deadline = time.monotonic() + 30
    with platform.client() as client:
        while client.post('/v1/authorize', json={
                    'call_id': f'probe-{uuid.uuid4().hex}',
                    'callee': '00', 'sip_username': last}
                ).json().get('reason') == 'unknown_account':
            assert time.monotonic() < deadline, "accounts not in snapshot"
            time.sleep(0.2)
    return codes


def balances(platform, codes):
    "{code: (balance, [live calls' (call id, state, reserved)])}"
    return platform.tryton(f"""
Account = pool.get('telecom.account')
LiveCall = pool.get('telecom.live_call')
result = {{a.code: (str(a.balance), [(c.call_id, c.state, str(c.reserved))
        for c in LiveCall.search([('account', '=', a.id)])])
    for a in Account.search([('code', 'in', {list(codes)!r})])}}
""")


def wait_all_rated(platform, call_ids, timeout=60):
    deadline = time.monotonic() + timeout
    code = f"""
Cdr = pool.get('telecom.cdr')
result = Cdr.search_count([('call_id', 'in', {list(call_ids)!r}),
    ('state', '=', 'rated')])
"""
    while platform.tryton(code) != len(call_ids):
        assert time.monotonic() < deadline, "CDRs not rated"
        time.sleep(0.3)


# Every order of a call's events after its authorize, each event also
# replayed (a switch retrying after a lost answer), and a call whose
# answer never comes.
ORDERS = [list(p) for p in itertools.permutations(['answer', 'end', 'cdr'])]
SCENARIOS = (
    [order + order for order in ORDERS]
    + [[e for e in order for _ in (0, 1)] for order in ORDERS]
    + [['end', 'cdr'], ['cdr', 'end'], ['end', 'end', 'cdr', 'cdr']])


def test_prepaid_events_in_any_order_spend_the_balance_once(platform):
    """Prepaid 1.00, one call of 100 s (1.00): whatever the order of its
    answer, end and CDR, duplicates included, or with no answer at all,
    no second call is granted before its CDR is rated, and the balance
    ends at exactly 0.00 — never below. (It was spent twice: an end
    without an answer released the whole reservation, an answer after the
    end was ignored.)"""
    users = {f'ord-{i}': {'billing_mode': 'prepaid', 'topup': '1.00'}
        for i in range(len(SCENARIOS))}
    codes = make_accounts(platform, users)
    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(
        minutes=5)
    answer_at = start + dt.timedelta(seconds=10)
    end_at = answer_at + dt.timedelta(seconds=100)
    calls, granted = [], []
    with platform.client() as client:
        def authorize(user, call_id):
            return client.post('/v1/authorize', json={
                    'call_id': call_id, 'callee': '02079460000',
                    'sip_username': user}).json()

        for index, events in enumerate(SCENARIOS):
            user, call_id = f'ord-{index}', f'ord-{index}-{uuid.uuid4().hex}'
            calls.append(call_id)
            first = authorize(user, call_id)
            assert (first['decision'], first['max_duration']) == (
                'allow', 100), (events, first)
            # The same call asked again: the same admission.
            assert authorize(user, call_id)['max_duration'] == 100
            for step, event in enumerate(events):
                if event == 'answer':
                    response = client.post(f'/v1/calls/{call_id}/answer',
                        json={'answered_at': answer_at.isoformat()})
                    assert response.status_code == 204
                elif event == 'end':
                    response = client.post(f'/v1/calls/{call_id}/end',
                        json={'ended_at': end_at.isoformat(), 'cause': 16})
                    assert response.status_code == 204
                else:
                    result = client.post('/v1/cdrs', json={
                            'call_id': call_id, 'callee': '442079460000',
                            'start': start.isoformat(),
                            'answer': answer_at.isoformat(),
                            'end': end_at.isoformat(),
                            'billable_seconds': 100,
                            'hangup_cause': 16}).json()
                    assert result['accepted'] + result['duplicates'] == 1, (
                        result)
                # The money is held (or spent) whatever came so far.
                other = authorize(user, f'{call_id}-b{step}')
                if other['decision'] == 'allow':
                    granted.append((events, step, other))
    wait_all_rated(platform, calls)
    assert granted == []
    found = balances(platform, codes.values())
    for index, events in enumerate(SCENARIOS):
        balance, live = found[codes[f'ord-{index}']]
        # 100 s at 0.60 a minute: 1.00 − 1.00
        assert (Decimal(balance), live) == (Decimal('0.00'), []), events


def post_call(client, call_id, seconds, start=None):
    "The answer, end and CDR of an admitted call of ``seconds``"
    start = start or dt.datetime.now(UTC).replace(microsecond=0) \
        - dt.timedelta(seconds=seconds + 60)
    answer = start + dt.timedelta(seconds=5)
    end = answer + dt.timedelta(seconds=seconds)
    assert client.post(f'/v1/calls/{call_id}/answer', json={
            'answered_at': answer.isoformat()}).status_code == 204
    assert client.post(f'/v1/calls/{call_id}/end', json={
            'ended_at': end.isoformat()}).status_code == 204
    result = client.post('/v1/cdrs', json={
            'call_id': call_id, 'callee': '442079460000',
            'start': start.isoformat(), 'answer': answer.isoformat(),
            'end': end.isoformat(), 'billable_seconds': seconds,
            'hangup_cause': 16}).json()
    assert result['accepted'] == 1, result


def test_credit_limit_counts_calls_already_made(platform):
    """Postpaid, credit limit 1.00: one call of 100 s (1.00) uses it all;
    once rated it is owed, not forgotten, so the next four are refused
    (all five were allowed). Another account's 30 s (0.30) leaves 70 s.
    Five at once on a fresh limit: one admitted."""
    codes = make_accounts(platform, {
            'lim-seq': {'credit_limit': Decimal('1.00')},
            'lim-part': {'credit_limit': Decimal('1.00')},
            'lim-burst': {'credit_limit': Decimal('1.00')}})
    with platform.client() as client:
        def authorize(user, call_id):
            return client.post('/v1/authorize', json={
                    'call_id': call_id, 'callee': '02079460000',
                    'sip_username': user}).json()

        prefix = uuid.uuid4().hex[:8]
        first = authorize('lim-seq', f'{prefix}-seq-0')
        assert (first['decision'], first['max_duration']) == ('allow', 100)
        post_call(client, f'{prefix}-seq-0', 100)
        part = authorize('lim-part', f'{prefix}-part-0')
        assert part['max_duration'] == 100
        post_call(client, f'{prefix}-part-0', 30)
        wait_all_rated(platform, [f'{prefix}-seq-0', f'{prefix}-part-0'])
        later = [authorize('lim-seq', f'{prefix}-seq-{i}')
            for i in range(1, 5)]
        assert [(a['decision'], a['reason']) for a in later] == [
            ('deny', 'insufficient_credit')] * 4
        # 1.00 − 0.30 owed = 0.70: 70 s at 0.60 a minute
        assert authorize('lim-part', f'{prefix}-part-1')['max_duration'] \
            == 70

    async def burst():
        async with httpx.AsyncClient(base_url=platform.url, timeout=60,
                headers={'Authorization':
                    f"Bearer {platform.keys['owner_key']}"}) as client:
            return await asyncio.gather(*(client.post('/v1/authorize',
                        json={'call_id': f'{prefix}-burst-{i}',
                            'callee': '02079460000',
                            'sip_username': 'lim-burst'})
                    for i in range(5)))
    answers = [r.json() for r in run_async(burst)]
    assert sorted(a['decision'] for a in answers) == ['allow'] + ['deny'] * 4
    assert codes


def test_over_limit_surcharge_charged(platform):
    """F21 "admit at extra cost": a call over the limit of one pays the
    account's over-limit price on its charge — per call, or per started
    minute — and its CDR says it was over the limit; the call within the
    limit pays the plan's price alone."""
    make_accounts(platform, {
            'ovl-call': {'max_outbound': 1, 'over_limit': 'charge',
                'over_limit_price': Decimal('0.10'),
                'over_limit_unit': 'call'},
            'ovl-min': {'max_outbound': 1, 'over_limit': 'charge',
                'over_limit_price': Decimal('0.10'),
                'over_limit_unit': 'minute'}})
    prefix = uuid.uuid4().hex[:8]
    calls = []
    with platform.client() as client:
        for user in ['ovl-call', 'ovl-min']:
            within, over = f'{prefix}-{user}-1', f'{prefix}-{user}-2'
            answers = [client.post('/v1/authorize', json={
                        'call_id': call_id, 'callee': '02079460000',
                        'sip_username': user}).json()
                for call_id in (within, over)]
            assert [(a['decision'], a['over_limit']) for a in answers] == [
                ('allow', False), ('allow', True)]
            post_call(client, within, 30)
            post_call(client, over, 90)
            calls += [within, over]
    wait_all_rated(platform, calls)
    found = platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = {{c.call_id: (bool(c.over_limit),
        [str(ch.amount) for ch in c.charges])
    for c in Cdr.search([('call_id', 'in', {calls!r})])}}
""")
    found = {k: (o, [Decimal(a) for a in amounts])
        for k, (o, amounts) in found.items()}
    # 30 s at 0.60 a minute: 0.30; 90 s: 0.90, plus 0.10 for the call or
    # 2 started minutes × 0.10 = 0.20.
    assert found == {
        f'{prefix}-ovl-call-1': (False, [Decimal('0.30')]),
        f'{prefix}-ovl-call-2': (True, [Decimal('1.00')]),
        f'{prefix}-ovl-min-1': (False, [Decimal('0.30')]),
        f'{prefix}-ovl-min-2': (True, [Decimal('1.10')]),
        }


def test_prepaid_slices_share_the_balance(platform):
    """Prepaid 60.00 at 0.60 a minute (10.00 at 0.10: 100 minutes), a
    limit of 5 calls, a switch that sends interim updates: the five calls
    run at once, each granted 5 minutes (3.00) at a time; updates extend
    them until the money ends, the last grant ``final``; together they
    cost exactly the balance, never more. (The first call reserved the
    whole balance: one call at a time.)"""
    make_accounts(platform, {'slices': {'billing_mode': 'prepaid',
                'max_outbound': 5, 'topup': '60.00'}})
    prefix = uuid.uuid4().hex[:8]
    calls = [f'{prefix}-slice-{i}' for i in range(5)]
    with platform.client() as client:
        first = [client.post('/v1/authorize', json={
                    'call_id': call_id, 'callee': '02079460000',
                    'sip_username': 'slices', 'interim_updates': True}
                ).json() for call_id in calls]
        assert [(a['decision'], a['max_duration'], a['final'])
            for a in first] == [('allow', 300, False)] * 5
        # A sixth: over the limit of 5
        assert client.post('/v1/authorize', json={
                'call_id': f'{prefix}-sixth', 'callee': '02079460000',
                'sip_username': 'slices', 'interim_updates': True}
            ).json()['reason'] == 'concurrency_limit'
        granted = {c: a['max_duration'] for c, a in zip(calls, first)}
        final = set()
        while len(final) < len(calls):
            for call_id in calls:
                if call_id in final:
                    continue
                response = client.post(f'/v1/calls/{call_id}/update',
                    json={})
                assert response.status_code == 200, response.text
                update = response.json()
                assert update['max_duration'] >= granted[call_id]
                granted[call_id] = update['max_duration']
                if update['final']:
                    final.add(call_id)
        # 60.00 at 0.01 a second: 6,000 seconds in all, 1,200 each (the
        # fifth round's updates found nothing left).
        assert granted == dict.fromkeys(calls, 1200)
        assert client.post(f'/v1/calls/{prefix}-ghost/update',
            json={}).status_code == 404
        # Each talks until its grant ends (the switch cuts it there).
        for call_id in calls:
            post_call(client, call_id, granted[call_id])
    wait_all_rated(platform, calls)
    code = platform.tryton("""
Account = pool.get('telecom.account')
account, = Account.search([('credentials.username', '=', 'slices')])
result = account.code
""")
    balance, live = balances(platform, [code])[code]
    # 5 × 1,200 s × 0.01 = 60.00: 60.00 − 60.00
    assert (Decimal(balance), live) == (Decimal('0.00'), [])


def test_interim_updates_priced_as_the_calls_service(platform):
    """A prepaid fax (1.20; the fax plan 0.12 a minute, voice 0.60) granted
    5-minute slices: its update prices the next slice as a fax — 5 more
    minutes (0.60), the balance spent, then ``final`` — and its CDR is
    rated at 1.20. (Updates priced every call as voice: 1.20 bought the
    fax 2 minutes, less than the first slice it already had.)"""
    platform.tryton(f"""
from decimal import Decimal
Plan = pool.get('telecom.rate.plan')
Account = pool.get('telecom.account')
retail = Plan({platform.keys['retail']})
fax, = Plan.create([{{
    'name': "Ledger fax", 'company': retail.company.id,
    'currency': retail.currency.id, 'decimals': 4, 'service': 'fax',
    'rates': [('create', [{{'prefix': '44', 'price': Decimal('0.12')}}])]}}])
template, = Account.search([('code', '=', {platform.keys['postpaid']!r})])
Account.write([template], {{'rate_plans': [('add', [fax.id])]}})
# Alpha carries faxes too, at 0.01 a minute.
pool.get('telecom.carrier.rate').create([{{
    'carrier': {platform.keys['alpha']}, 'service': 'fax', 'prefix': '44',
    'price': Decimal('0.01')}}])
pool.get('telecom.routing.policy').create([{{
    'plan': fax.id, 'service': 'fax', 'strategy': 'least-cost'}}])
result = None
""")
    make_accounts(platform, {'faxer': {'billing_mode': 'prepaid',
                'topup': '1.20'}})
    call_id = f'{uuid.uuid4().hex[:8]}-fax'
    with platform.client() as client:
        first = client.post('/v1/authorize', json={
                'call_id': call_id, 'callee': '02079460000',
                'sip_username': 'faxer', 'service': 'fax',
                'interim_updates': True}).json()
        assert (first['decision'], Decimal(first['price_per_minute']),
            first['max_duration'], first['final']) == (
            'allow', Decimal('0.12'), 300, False), first
        # 5 more minutes fit exactly; the next update finds nothing left:
        # final at 10 minutes.
        for expected in [{'max_duration': 600, 'final': False},
                {'max_duration': 600, 'final': True}]:
            update = client.post(f'/v1/calls/{call_id}/update', json={})
            assert update.status_code == 200, update.text
            assert update.json() == expected
        start = dt.datetime.now(UTC).replace(microsecond=0) \
            - dt.timedelta(seconds=700)
        answer, end = (start + dt.timedelta(seconds=5),
            start + dt.timedelta(seconds=605))
        for event, at in [('answer', answer), ('end', end)]:
            assert client.post(f'/v1/calls/{call_id}/{event}', json={
                    f'{event}ed_at': at.isoformat()}).status_code == 204
        assert client.post('/v1/cdrs', json={
                'call_id': call_id, 'callee': '442079460000',
                'service': 'fax', 'start': start.isoformat(),
                'answer': answer.isoformat(), 'end': end.isoformat(),
                'billable_seconds': 600, 'hangup_cause': 16}
            ).json()['accepted'] == 1
    wait_all_rated(platform, [call_id])
    assert platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
call, = Cdr.search([('call_id', '=', {call_id!r})])
result = [str(c.amount.normalize()) for c in call.charges
    if c.account == call.account]
""") == ['1.2']


def test_expired_call_without_cdr_kept_as_missing(platform):
    """A live call whose TTL passes with no CDR is not deleted silently:
    it becomes a missing CDR with its estimated cost (0.60 a minute for
    every started minute from its answer to its end, or to its expiry
    when no end came; nothing unanswered), listed in the back office and
    counted on /health."""
    from trytond.modules.telecom_switch.api import store as sql
    make_accounts(platform, {'miss-user': {}})
    prefix = uuid.uuid4().hex[:8]
    now = dt.datetime.now(UTC).replace(microsecond=0)
    talked, talking, ringing = (
        f'{prefix}-talked', f'{prefix}-talking', f'{prefix}-ringing')
    with platform.client() as client:
        for call_id in (talked, talking, ringing):
            assert client.post('/v1/authorize', json={
                    'call_id': call_id, 'callee': '02079460000',
                    'sip_username': 'miss-user'}).json()['decision'] \
                == 'allow'
        for call_id in (talked, talking):
            assert client.post(f'/v1/calls/{call_id}/answer', json={
                    'answered_at': (now - dt.timedelta(seconds=300)
                        ).isoformat()}).status_code == 204
        # 120 s talked: 2 minutes
        assert client.post(f'/v1/calls/{talked}/end', json={
                'ended_at': (now - dt.timedelta(seconds=180)).isoformat()
                }).status_code == 204
    # Their TTL passed a minute ago: the one still talking lasted at most
    # until then, 240 s (4 minutes).
    platform.tryton(f"""
cursor = Transaction().connection.cursor()
LiveCall = pool.get('telecom.live_call')
table = LiveCall.__table__()
import datetime as dt
cursor.execute(*table.update([table.expires_at],
    [dt.datetime({now.year}, {now.month}, {now.day}, {now.hour},
        {now.minute}, {now.second}) - dt.timedelta(seconds=60)],
    where=table.call_id.in_({[talked, talking, ringing]!r})))
""")
    store = store_of(platform)

    async def expire():
        if platform.backend == 'postgresql':
            await store.pool.open()
        try:
            await store.expire(sql.Store.now())
        finally:
            await store.close()
    run_async(expire)
    found = platform.tryton(f"""
Missing = pool.get('telecom.missing_cdr')
LiveCall = pool.get('telecom.live_call')
calls = {[talked, talking, ringing]!r}
result = [
    {{m.call_id: (str(m.estimated_cost), bool(m.ended_at))
        for m in Missing.search([('call_id', 'in', calls)])}},
    LiveCall.search_count([('call_id', 'in', calls)]),
    Missing.search_count([])]
""")
    missing, live, total = found
    assert {k: (Decimal(c), e) for k, (c, e) in missing.items()} == {
        talked: (Decimal('1.20'), True),
        talking: (Decimal('2.40'), False),
        ringing: (Decimal('0'), False)}
    assert live == 0
    with platform.client(None) as client:
        assert client.get('/health').json() == {
            'status': 'ok', 'missing_cdrs': total}


class FakeKamailioRpc:
    """Kamailio's JSON-RPC over HTTP as the API's reconciliation asks it:
    ``dlg.list`` answers the dialogs of ``call_ids``"""

    def __init__(self):
        import http.server
        import threading
        fake = self
        self.call_ids = set()
        self.asked = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = json.loads(self.rfile.read(
                        int(self.headers['Content-Length'])))
                assert request['method'] == 'dlg.list'
                fake.asked += 1
                body = json.dumps({'jsonrpc': '2.0', 'id': request['id'],
                        'result': [{'h_entry': 1, 'h_id': i,
                                'call-id': call_id, 'state': 4}
                            for i, call_id in enumerate(
                                sorted(fake.call_ids))]}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/RPC' % self.server.server_port
        threading.Thread(target=self.server.serve_forever,
            daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_calls_the_switch_no_longer_has_are_released(platform):
    """The API looks at each Kamailio's dialogs (dlg.list over JSON-RPC)
    every --reconcile seconds: a call the switch no longer has, authorized
    over a minute ago, is ended — its slot freed (postpaid, a limit of 2:
    a third call fits again) — while a call it still has keeps its slot."""
    rpc = FakeKamailioRpc()
    try:
        platform.tryton(f"""
Switch = pool.get('telecom.switch')
switch, = Switch.search([('code', '=', 'owner-proxy')])
Switch.write([switch], {{'rpc_url': {rpc.url!r}}})
""")
        platform.stop_api()
        platform.api_args += ['--reconcile', '1']
        platform.start_api()
        make_accounts(platform, {'rec-user': {'max_outbound': 2}})
        prefix = uuid.uuid4().hex[:8]
        kept, gone, third = (
            f'{prefix}-kept', f'{prefix}-gone', f'{prefix}-third')
        rpc.call_ids.add(kept)
        with platform.client() as client:
            def authorize(call_id):
                return client.post('/v1/authorize', json={
                        'call_id': call_id, 'callee': '02079460000',
                        'sip_username': 'rec-user'}).json()
            assert [authorize(c)['decision'] for c in (kept, gone)] == [
                'allow', 'allow']
            assert authorize(third)['reason'] == 'concurrency_limit'
            # Both authorized 2 minutes ago (newer calls may not be in
            # the switch's list yet).
            platform.tryton(f"""
import datetime as dt
cursor = Transaction().connection.cursor()
table = pool.get('telecom.live_call').__table__()
cursor.execute(*table.update([table.authorized_at],
    [dt.datetime.utcnow() - dt.timedelta(minutes=2)],
    where=table.call_id.in_({[kept, gone]!r})))
""")
            deadline = time.monotonic() + 60
            code = f"""
LiveCall = pool.get('telecom.live_call')
result = sorted([c.call_id, c.state] for c in LiveCall.search(
    [('call_id', 'in', {[kept, gone]!r})]))
"""
            while platform.tryton(code) != [
                    [gone, 'ended'], [kept, 'authorized']]:
                assert time.monotonic() < deadline, platform.tryton(code)
                time.sleep(0.5)
            assert rpc.asked
            assert authorize(third)['decision'] == 'allow'
    finally:
        rpc.stop()
        platform.tryton("""
Switch = pool.get('telecom.switch')
Switch.write(Switch.search([('code', '=', 'owner-proxy')]),
    {'rpc_url': None})
""")
