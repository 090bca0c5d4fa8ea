"""Fuzzing the call-control API over HTTP (hypothesis): whatever a switch
or an attacker sends — malformed JSON, wrong types, unknown accounts,
huge bodies, SQL or HTML in the fields — the answer is a 4xx with a
reason or a valid decision, never a 5xx, and the service stays up.

One real ``telecom-callcontrol`` on PostgreSQL (SQLite when PostgreSQL
does not answer, outside CI), bounded to well under a minute.
"""
import json
import os
import time
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_callcontrol import PG_URI, Platform, pg_available

EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', 300))
# Per operation of /openapi.json (7): a minute or two in all
OPENAPI_EXAMPLES = int(os.environ.get('OPENAPI_EXAMPLES', 40))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture])
NASTY = [
    "'; DROP TABLE telecom_live_call; --", "1 OR 1=1", '" OR ""="',
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "../../etc/passwd", "%00", "\x00", "\u202e", "😀", "${jndi:x}",
    "9" * 200, "", " ", "+", "00", "112", "+442079460000", "A000001",
    "pp-user", "127.0.0.1", "::1", "999.1.1.1", "2026-02-30T10:00:00Z",
    "2026-11-25T10:00:00+0300", "NaN", "1e999",
    ]
scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(NASTY)
    | st.text(max_size=60))
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
FIELDS = ['call_id', 'leg', 'direction', 'caller', 'callee',
    'sip_username', 'source_ip', 'sip_domain', 'service', 'answered_at',
    'ended_at', 'cause', 'start', 'answer', 'end', 'billable_seconds',
    'disposition', 'hangup_cause', 'account', 'carrier', 'calls', 'cdrs',
    'interim_updates']
# Mostly well-formed objects with some fields wrong: deeper into the code.
objects = st.fixed_dictionaries({
        'call_id': st.sampled_from(['fz-1', 'fz-2']) | scalars,
        'callee': st.sampled_from(['442079460000', '02079460000', '112'])
        | scalars,
        }, optional={name: json_values | scalars for name in FIELDS
        if name not in ('call_id', 'callee')})
PATHS = ['/v1/authorize', '/v1/calls/fz-1/answer', '/v1/calls/fz-1/end',
    '/v1/cdrs', '/v1/reconcile', '/v1/calls/fz-1/update']


@pytest.fixture(scope='module')
def platform(tmp_path_factory):
    backend = 'postgresql' if pg_available() else 'sqlite'
    if backend == 'sqlite' and os.environ.get('CI') == 'true':
        pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
    platform = Platform(backend, tmp_path_factory.mktemp('fuzz'))
    try:
        yield platform
    finally:
        platform.stop()


def test_openapi_document(platform):
    """Requests schemathesis generates from /openapi.json, for every
    operation (valid and not): never a 5xx, and a refused CDR request
    stores nothing (409 excepted: it stores the batch's other CDRs)"""
    schema = schemathesis.openapi.from_url(platform.url + '/openapi.json')
    headers = {'Authorization': f'Bearer {platform.keys["owner_key"]}'}

    def count():
        return platform.sql('SELECT COUNT(*) FROM telecom_cdr')[0][0] if (
            platform.backend == 'postgresql') else None
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=OPENAPI_EXAMPLES, deadline=None,
            derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check_operation(case):
            nonlocal tried
            tried += 1
            before = count() if case.path == '/v1/cdrs' else None
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.path, response.text)
            if (before is not None and 400 <= response.status_code < 500
                    and response.status_code != 409):
                assert count() == before, (case.path, response.text)
        check_operation()
    print(f"schemathesis: {tried} requests over /openapi.json")
    assert tried


@pytest.fixture(scope='module')
def client(platform):
    with platform.client() as client:
        yield client


def check(response, path):
    "A 4xx with a reason, or a valid answer; never a 5xx"
    assert response.status_code < 500, (path, response.text)
    if response.status_code >= 400:
        assert response.text.strip(), path
        if response.status_code == 400:
            assert response.json()['error']
        return
    if path == '/v1/authorize':
        answer = response.json()
        assert answer['decision'] in ('allow', 'deny'), answer
        assert answer['reason'], answer
    elif path == '/v1/cdrs':
        answer = response.json()
        assert set(answer) == {
            'accepted', 'duplicates', 'rejected', 'ignored'}
    elif path == '/v1/reconcile':
        assert 'released' in response.json()
    elif path.endswith('/update'):
        assert set(response.json()) == {'max_duration', 'final'}
    else:
        assert response.status_code == 204


@FUZZ
@given(path=st.sampled_from(PATHS), body=objects)
def test_fields_of_every_type(client, path, body):
    check(client.post(path, json=body), path)


@FUZZ
@given(path=st.sampled_from(PATHS), body=json_values)
def test_any_json_document(client, path, body):
    check(client.post(path, json=body), path)


@FUZZ
@given(path=st.sampled_from(PATHS), raw=st.binary(max_size=300)
    | st.sampled_from([b'{', b'{"call_id": ', b'[' * 5000 + b']' * 5000,
        b'{"a": ' * 3000 + b'1' + b'}' * 3000, b'\xff\xfe{}', b'null',
        b'{"call_id": "x", "callee": 1e99999}']))
def test_malformed_bodies(client, path, raw):
    check(client.post(path, content=raw,
            headers={'Content-Type': 'application/json'}), path)


@settings(max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call_id=st.text(min_size=1, max_size=300).filter(
        lambda t: t not in ('.', '..')),
    event=st.sampled_from(['answer', 'end']))
def test_call_ids_in_the_path(client, call_id, event):
    path = '/v1/calls/%s/%s' % (quote(call_id, safe=''), event)
    response = client.post(path, json={})
    assert response.status_code < 500 and response.status_code in (
        204, 400, 404, 405), (path, response.status_code)


def test_huge_bodies_and_keys(platform, client):
    "Oversized input is refused whole, without a crash"
    huge = b'{"cdrs": [' + b','.join([b'{"call_id": "x"}'] * 600000) + b']}'
    assert len(huge) > 8 * 1024 * 1024
    assert client.post('/v1/cdrs', content=huge).status_code == 413
    assert client.post('/v1/authorize', content=b'{"call_id": "'
        + b'x' * 20000 + b'"}').status_code == 413
    too_many = json.dumps({'cdrs': [{}] * 10001})
    response = client.post('/v1/cdrs', content=too_many)
    assert response.status_code == 400
    assert response.json()['field'] == 'cdrs'
    # Without or with a wrong key: 401, whatever the body.
    with platform.client(None) as anonymous:
        assert anonymous.post('/v1/cdrs', content=b'{').status_code == 401
        assert anonymous.post('/v1/authorize', json={}, headers={
                'Authorization': 'Bearer ' + 'k' * 5000}).status_code == 401


def test_service_still_up_and_deciding(platform, client):
    "Runs last: alive, answering, and no call left half-admitted"
    started = time.monotonic()
    assert client.get('/health').json()['status'] == 'ok'
    answer = client.post('/v1/authorize', json={
            'call_id': 'fz-after', 'callee': '442079460000',
            'sip_username': 'pp-user'}).json()
    assert answer['decision'] == 'allow'
    assert time.monotonic() - started < 5
    assert platform.process.poll() is None
