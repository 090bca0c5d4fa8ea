"""The door of the call pipeline: how requests and CDRs enter the API, as a
real network delivers them — bodies split across TCP segments, oversized
bodies, implausible or conflicting CDRs. A refused request writes nothing.

One real ``telecom-callcontrol`` per backend (the fixture of
tests/e2e/callcontrol_fixture.py: UK numbers at 0.60 EUR a minute).
"""
import datetime as dt
import json
import socket
import time
import uuid
from decimal import Decimal

import pytest

from .burst import burst
from .test_callcontrol import (
    PG_URI, Platform, backends, pg_available, run_async)

MAX_BODY = 256 * 1024


@pytest.fixture(scope='module', params=list(backends()))
def platform(request, tmp_path_factory):
    if request.param == 'postgresql' and not pg_available():
        pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
    platform = Platform(request.param, tmp_path_factory.mktemp('door'),
        api_args=['--max-body', str(MAX_BODY)])
    try:
        yield platform
    finally:
        platform.stop()


def raw_post(platform, path, body, pause=0.3, split=None):
    """POST ``body`` over a raw socket in two writes, the headers and the
    first ``split`` bytes of the body, then after ``pause`` seconds the
    rest — as a real network may deliver it; return (status, body)."""
    head = (f'POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n'
        f'Authorization: Bearer {platform.keys["owner_key"]}\r\n'
        'Content-Type: application/json\r\n'
        f'Content-Length: {len(body)}\r\nConnection: close\r\n\r\n'
        ).encode()
    split = len(body) // 2 if split is None else split
    with socket.create_connection(('127.0.0.1', platform.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head + body[:split])
        time.sleep(pause)
        try:
            sock.sendall(body[split:])
        except (BrokenPipeError, ConnectionResetError):
            pass   # answered (413) before the rest was sent
        answer = b''
        sock.settimeout(30)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, content = answer.partition(b'\r\n\r\n')
    return int(head.split()[1]), content


def stored_cdrs(platform, call_ids):
    return platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = sorted(c.call_id for c in Cdr.search(
    [('call_id', 'in', {list(call_ids)!r})]))
""")


def cdr(call_id, seconds=60, start=None, **values):
    "A CDR of the postpaid customer answered 5 s after its start"
    start = start or dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc)
    answer = start + dt.timedelta(seconds=5)
    end = answer + dt.timedelta(seconds=seconds)
    return {'call_id': call_id, 'callee': '442079460000',
        'caller': '442071230000', 'start': start.isoformat(),
        'answer': answer.isoformat(), 'end': end.isoformat(),
        'billable_seconds': seconds, 'account': platform_codes['postpaid'],
        **values}


platform_codes = {}


@pytest.fixture(autouse=True)
def codes(platform):
    platform_codes.update(platform.keys)


def test_split_authorize_body(platform):
    "An authorize whose body arrives in two TCP segments is decided"
    body = json.dumps({'call_id': uuid.uuid4().hex,
            'callee': '442079460000', 'sip_username': 'pp-user'}).encode()
    status, answer = raw_post(platform, '/v1/authorize', body)
    assert status == 200, answer
    assert json.loads(answer)['decision'] == 'allow'


def test_split_cdr_batch(platform):
    "A batch of CDRs split across segments is stored whole"
    ids = [f'split-{uuid.uuid4().hex[:8]}-{i}' for i in range(40)]
    body = json.dumps({'cdrs': [cdr(i) for i in ids]}).encode()
    assert len(body) > 1400
    status, answer = raw_post(platform, '/v1/cdrs', body)
    assert status == 200, answer
    assert json.loads(answer)['accepted'] == 40
    assert stored_cdrs(platform, ids) == sorted(ids)


def test_split_end_body(platform):
    "A split end frees the slot (it was refused and the slot held)"
    call_id = uuid.uuid4().hex
    assert platform.authorize('pp-user', '442079460000',
        call_id=call_id)['decision'] == 'allow'
    body = json.dumps({'ended_at': '2026-11-25T10:01:00Z',
            'cause': 16}).encode()
    status, answer = raw_post(
        platform, f'/v1/calls/{call_id}/end', body, split=3)
    assert status == 204, answer
    states = [s for c, s, _ in platform.live_calls(
            platform.keys['postpaid']) if c == call_id]
    assert states in ([], ['ended'])


def test_oversized_body_refused_whole(platform):
    "A body over the limit is a 413 and nothing of it is stored"
    ids = [f'huge-{uuid.uuid4().hex[:8]}-{i}' for i in range(1200)]
    body = json.dumps({'cdrs': [cdr(i) for i in ids]}).encode()
    assert MAX_BODY < len(body) < 8 * 1024 * 1024
    status, _ = raw_post(platform, '/v1/cdrs', body)
    assert status == 413
    with platform.client() as client:
        response = client.post('/v1/cdrs', content=body)
        assert response.status_code == 413
        # Without a Content-Length (chunked): still bounded
        response = client.post('/v1/cdrs', content=iter([body]))
        assert response.status_code == 413
    assert stored_cdrs(platform, ids) == []


def test_service_and_pdd_stored_rated_and_measured(platform):
    """The API stores a CDR's service and post-dial delay: a fax is rated
    on the fax plan, an SMS on the SMS plan at its price per message, and
    the quality statistics measure the PDD the switch reported"""
    platform.tryton(f"""
from decimal import Decimal
Plan = pool.get('telecom.rate.plan')
Account = pool.get('telecom.account')
retail = Plan({platform.keys['retail']})
plans = Plan.create([{{
    'name': "Door " + service, 'company': retail.company.id,
    'currency': retail.currency.id, 'decimals': 4, 'service': service,
    'rates': [('create', [{{'prefix': '44', 'price': price}}])]}}
    for service, price in [('fax', Decimal('0.12')),
        ('sms', Decimal('0.05'))]])
account, = Account.search([('code', '=', {platform.keys['postpaid']!r})])
Account.write([account], {{'rate_plans': [('add', [p.id for p in plans])]}})
result = None
""")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    tag = uuid.uuid4().hex[:8]
    fax = cdr(f'fax-{tag}', 60, service='fax', carrier='alpha',
        pdd_ms=1500)
    sms = cdr(f'sms-{tag}', 0, service='sms', disposition='ANSWERED')
    voice = cdr(f'voice-{tag}', 30, now - dt.timedelta(minutes=10),
        carrier='alpha', pdd_ms=2500)
    with platform.client() as client:
        answer = client.post('/v1/cdrs', json={'cdrs': [fax, sms, voice]})
    assert answer.status_code == 200, answer.text
    assert answer.json()['accepted'] == 3
    for item in (fax, sms, voice):
        platform.wait_rated(item['call_id'])
    result = platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
Quality = pool.get('telecom.carrier.quality')
result = {{c.call_id: [c.service, c.pdd_ms, c.duration,
        [[ch.plan.name, str(ch.amount.normalize())] for ch in c.charges]]
    for c in Cdr.search([('call_id', 'like', '%-{tag}')])}}
Quality.refresh()
result['quality'] = [str(q.pdd) for q in Quality.search([
    ('carrier', '=', {platform.keys['alpha']}), ('group', '=', None),
    ('window', '=', '1h')])]
""")
    # 60 s at 0.12 a minute; one message at 0.05; 30 s at 0.60 a minute
    assert result[f'fax-{tag}'] == ['fax', 1500, 60, [["Door fax", '0.12']]]
    assert result[f'sms-{tag}'] == ['sms', None, 60, [["Door sms", '0.05']]]
    assert result[f'voice-{tag}'] == ['voice', 2500, 30, [["Retail", '0.3']]]
    # The voice call of the last hour: 2.5 s of PDD (faxes are not counted)
    assert result['quality'] == ['2.500']


@pytest.mark.parametrize('change, field', [
        # a 10-second call with 864,000 billable seconds (8,640 EUR)
        ({'billable_seconds': 864000, 'end': '2026-11-25T10:00:15+00:00'},
            'billable_seconds'),
        # 65 s from start to end, 5 s of tolerance
        ({'billable_seconds': 71}, 'billable_seconds'),
        ({'start': '1970-01-01T00:00:00Z'}, 'start'),
        ({'start': '2199-01-01T00:00:00Z'}, 'start'),
        ({'start': '9999-12-31T23:59:59Z'}, 'start'),
        ({'end': '2026-11-25T09:00:00Z'}, 'end'),
        ({'pdd_ms': -1}, 'pdd_ms'),
        ({'service': 'video'}, 'service'),
        ])
def test_implausible_cdr_refused(platform, change, field):
    "An implausible CDR is a 4xx naming the field; nothing is stored"
    bad = {**cdr(f'bad-{uuid.uuid4().hex[:8]}', 60), **change}
    good = cdr(f'good-{uuid.uuid4().hex[:8]}', 60)
    with platform.client() as client:
        single = client.post('/v1/cdrs', json=bad)
        batch = client.post('/v1/cdrs', json={'cdrs': [good, bad]})
    assert single.status_code == 400, single.text
    assert single.json()['field'] == field
    # In a batch: the others stored, the bad one listed with its field
    assert batch.status_code == 200
    assert batch.json()['accepted'] == 1
    rejected, = batch.json()['rejected']
    assert (rejected['index'], rejected['field']) == (1, field)
    assert stored_cdrs(platform, [bad['call_id'], good['call_id']]) == [
        good['call_id']]


def test_conflicting_duplicate_is_409_with_stored_values(platform):
    """The same CDR again is an idempotent duplicate; another CDR under the
    same call id is a 409 showing what is stored, which stays as it was"""
    first = cdr(f'dup-{uuid.uuid4().hex[:8]}', 60)
    other = {**cdr(first['call_id'], 90)}
    with platform.client() as client:
        assert client.post('/v1/cdrs', json=first).json()['accepted'] == 1
        again = client.post('/v1/cdrs', json=first)
        assert again.status_code == 200
        assert (again.json()['accepted'], again.json()['duplicates']) == (
            0, 1)
        conflict = client.post('/v1/cdrs', json={'cdrs': [
                    other, cdr(f'new-{uuid.uuid4().hex[:8]}', 30)]})
    assert conflict.status_code == 409, conflict.text
    answer = conflict.json()
    assert answer['accepted'] == 1
    item, = answer['conflicts']
    assert (item['index'], item['fields']) == (0, ['billable_seconds'])
    assert item['stored']['billable_seconds'] == 60
    assert item['stored']['account'] == platform.keys['postpaid']
    assert platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = [c.duration for c in Cdr.search(
    [('call_id', '=', {first['call_id']!r})])]
""") == [60]


def test_bad_row_set_aside_others_rated(platform):
    """A row the door would refuse, written straight into the table (a
    start in 9999) and on which the engine fails, does not stop the
    rating pass: the other CDRs (of every tenant) are rated, it is set
    aside with its reason, out of the backlog, and rated again by staff
    once the cause is fixed"""
    tag = uuid.uuid4().hex[:8]
    result = platform.tryton(f"""
import datetime as dt
from sql import Column, Table
from trytond.modules.telecom_rating import cdr as cdr_module
Account = pool.get('telecom.account')
Cdr = pool.get('telecom.cdr')
account, = Account.search([('code', '=', {platform.keys['postpaid']!r})])
other, = Account.search([('code', '=', {platform.keys['r1cust']!r})])
table = Table('telecom_cdr')
values = {{'switch': 'owner-proxy', 'call_id': 'poison-{tag}', 'leg': 'a',
    'account': account.id, 'company': account.company.id, 'caller': '',
    'callee': '442079460000', 'direction': 'outbound', 'service': 'voice',
    'start': dt.datetime(9999, 12, 31, 23, 59, 59), 'duration': 60,
    'disposition': 'ANSWERED', 'state': 'unrated', 'rating_version': 0,
    'create_uid': 0, 'create_date': dt.datetime(2026, 12, 1)}}
Transaction().connection.cursor().execute(*table.insert(
    [Column(table, k) for k in values], [list(values.values())]))
start = dt.datetime(2026, 11, 25, 10)
Cdr.ingest([{{'switch': 'owner-proxy', 'call_id': f'fine-{tag}-' + a.code,
        'account': a.id, 'callee': '442079460000', 'start': start,
        'end': start + dt.timedelta(seconds=60), 'duration': 60}}
    for a in [account, other]])
# The engine failing on that date, as it did on the first day of the
# year 10000 (a bundle's next month)
engine = cdr_module.rate_batch
poison = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc).timestamp()
def failing(tariff, calls, *args):
    if any(c.start >= poison for c in calls):
        raise ValueError("year 10000 is out of range")
    return engine(tariff, calls, *args)
cdr_module.rate_batch = failing
try:
    Cdr.rate_unrated()
finally:
    cdr_module.rate_batch = engine
cdrs = Cdr.search([('call_id', 'like', '%-{tag}%')])
result = {{c.call_id: [c.state, c.unrated_reason, c.id in Cdr.unrated_ids()]
    for c in cdrs}}
poisoned, = [c for c in cdrs if c.call_id == 'poison-{tag}']
Cdr.rerate([poisoned])
result['again'] = Cdr(poisoned.id).state
""")
    fine = [f'fine-{tag}-{platform.keys[c]}' for c in ('postpaid', 'r1cust')]
    assert [result[c] for c in fine] == [['rated', None, False]] * 2
    state, reason, backlog = result[f'poison-{tag}']
    assert (state, backlog) == ('unrated', False)
    assert reason == ("set aside, rating failed: ValueError: year 10000 is "
        "out of range")
    # Staff rate it again once the cause is gone
    assert result['again'] == 'rated'


def test_number_dialled_00_rated_at_its_authorized_price(platform):
    """A call dialled 00 44… is priced by authorize at X; its CDR, arriving
    after its live call is gone (expired, replayed late) with the number
    as dialled, is rated at X — the same normalisation for both"""
    call_id = f'intl-{uuid.uuid4().hex[:8]}'
    answer = platform.authorize('pp-user', '00442079460000',
        call_id=call_id)
    assert answer['decision'] == 'allow'
    assert Decimal(answer['price_per_minute']) == Decimal('0.60')
    platform.tryton(f"""
LiveCall = pool.get('telecom.live_call')
LiveCall.delete(LiveCall.search([('call_id', '=', {call_id!r})]))
result = None
""")
    late = cdr(call_id, 60, callee='00442079460000')
    with platform.client() as client:
        assert client.post('/v1/cdrs', json=late).json()['accepted'] == 1
    platform.wait_rated(call_id)
    # 60 s at 0.60 a minute: 0.60, as authorized
    assert platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = [(c.callee, [str(ch.amount.normalize()) for ch in c.charges])
    for c in Cdr.search([('call_id', '=', {call_id!r})])]
""") == [['442079460000', ['0.6']]]


def test_burst_of_500_authorizes_admits_exactly_the_limit(platform):
    """500 authorize requests at the same moment, each on its own
    connection, to one API process: exactly 5 admitted at a limit of 5,
    the others refused for the limit, none failed"""
    tag = uuid.uuid4().hex[:8]
    bodies = [{'call_id': f'burst-{tag}-{i}', 'callee': '442079460000',
            'sip_username': 'crowd-user'} for i in range(500)]
    answers = run_async(lambda: burst(
            '127.0.0.1', platform.port, platform.keys['owner_key'],
            '/v1/authorize', bodies))
    assert {status for status, _, _ in answers} == {200}
    decisions = [json.loads(body) for _, body, _ in answers]
    allowed = [d for d in decisions if d['decision'] == 'allow']
    assert len(allowed) == 5
    assert {d['reason'] for d in decisions if d['decision'] == 'deny'} == {
        'concurrency_limit'}
    # the slots given back: the account's other tests start empty
    with platform.client() as client:
        for body, decision in zip(bodies, decisions):
            if decision['decision'] == 'allow':
                client.post(f"/v1/calls/{body['call_id']}/end", json={})


def test_events_out_of_order_and_out_of_range(platform):
    """Answer after end, events of unknown calls, timestamps of year 1 or
    9999 with offsets (which overflowed into a 500): a 204 or a 400
    naming the field, never a 5xx, and nothing written by a refusal"""
    call_id = uuid.uuid4().hex
    refused = []
    with platform.client() as client:
        assert platform.authorize('pp-user', '442079460000',
            call_id=call_id)['decision'] == 'allow'
        assert client.post(f'/v1/calls/{call_id}/end',
            json={'ended_at': '2026-11-25T10:01:00Z'}).status_code == 204
        assert client.post(f'/v1/calls/{call_id}/answer',
            json={'answered_at': '2026-11-25T10:00:05Z'}).status_code == 204
        for path in ('/v1/calls/nobody-knows/answer',
                '/v1/calls/nobody-knows/end'):
            assert client.post(path, json={}).status_code == 204
        for moment in ('0001-01-01T00:00:00+01:00',
                '9999-12-31T23:59:59-14:00', '9999-12-31T23:59:59Z'):
            response = client.post(f'/v1/calls/{call_id}/end',
                json={'ended_at': moment})
            assert response.status_code == 400, (moment, response.text)
            assert response.json()['field'] == 'ended_at'
            refused.append(f'range-{uuid.uuid4().hex[:8]}')
            response = client.post('/v1/cdrs', json=cdr(
                    refused[-1], 60, answer=moment))
            assert response.status_code == 400, (moment, response.text)
            assert response.json()['field'] == 'answer'
    assert stored_cdrs(platform, refused) == []


def test_authorize_replayed_after_its_cdr_holds_nothing(platform):
    """Issue 15: an authorize repeated for a call whose CDR was rated (a
    switch retrying) was admitted again — rating had forgotten the live
    call — holding a slot (and, prepaid, money) that nothing releases:
    its CDR came already. It is refused, by call id, and holds nothing."""
    call_id = uuid.uuid4().hex
    assert platform.authorize('pp-user', '442079460000',
        call_id=call_id)['decision'] == 'allow'
    with platform.client() as client:
        assert client.post(f'/v1/calls/{call_id}/end',
            json={}).status_code == 204
        assert client.post('/v1/cdrs',
            json=cdr(call_id, 60)).json()['accepted'] == 1
    platform.wait_rated(call_id)
    replay = platform.authorize('pp-user', '442079460000', call_id=call_id)
    assert (replay['decision'], replay['reason']) == (
        'deny', 'call_completed')
    assert platform.tryton(f"""
LiveCall = pool.get('telecom.live_call')
result = LiveCall.search([('call_id', '=', {call_id!r})], count=True)
""") == 0
