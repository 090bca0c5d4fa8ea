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

import pytest

from .test_callcontrol import Platform, backends, pg_available, PG_URI

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


def cdr(call_id, seconds=60, **values):
    "A CDR of the postpaid customer answered 5 s after its start"
    start = dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc)
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
