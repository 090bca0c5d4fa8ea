"""The money side of call control over HTTP, on SQLite and PostgreSQL:
reservations in any order of the switch's events, credit limits counting
what was already spent.

The fixture's UK numbers (44) cost 0.60 EUR a minute in 1-second steps
(tests/e2e/callcontrol_fixture.py): 1.00 EUR buys 100 seconds.
"""
import asyncio
import datetime as dt
import itertools
import time
import uuid
from decimal import Decimal

import httpx
import pytest

from .test_callcontrol import Platform, backends, pg_available, run_async

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
