"""Kamailio end to end: Debian's kamailio with switch/kamailio/kamailio.cfg,
sipp as the customer and as two carriers, and a fake call-control API, all
on 127.0.0.1.

Checks: failover from a 503 carrier to the next route with answer, end and
CDR posted; a customer the API denies gets the API's SIP code; a prepaid
call is cut at its max duration; with the API down calls get 503 but an
emergency number is routed; no allowed call is left without an ``end``.
"""
import base64
import glob
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

from .conftest import free_port
from .fake_callcontrol import API_KEY, FakeCallControl, allow, deny

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CFG = os.path.join(ROOT, 'switch', 'kamailio', 'kamailio.cfg')
SCENARIOS = os.path.join(HERE, 'sipp')
KAMAILIO = shutil.which('kamailio') or (
    '/usr/sbin/kamailio' if os.path.exists('/usr/sbin/kamailio') else None)
SIPP = shutil.which('sipp')
KAMCMD = shutil.which('kamcmd') or '/usr/sbin/kamcmd'

# db_sqlite (the proxy's spool) is in a package of its own
SQLITE_MODULE = glob.glob('/usr/lib/*/kamailio/modules/db_sqlite.so') \
    or glob.glob('/usr/lib/kamailio/modules/db_sqlite.so')

if not (KAMAILIO and SIPP and SQLITE_MODULE):
    if os.environ.get('CI') == 'true':
        raise RuntimeError(
            'kamailio and sipp are required under CI=true '
            '(apt-get install kamailio kamailio-extra-modules '
            'kamailio-utils-modules kamailio-sqlite-modules sip-tester; '
            '.ci/run does it)')
    pytest.skip('kamailio, its sqlite modules or sipp is not installed '
        '(Debian packages '
        'kamailio, kamailio-extra-modules, kamailio-utils-modules, '
        'kamailio-sqlite-modules, sip-tester); mandatory under CI=true',
        allow_module_level=True)

HOST = '127.0.0.1'
API_TIMEOUT = 1  # seconds, the whole-second http_client timeout


def udp_port():
    "A port free for UDP too (free_port checks TCP only)."
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        return port
    raise RuntimeError('no free UDP port')


def sip_options(port, timeout=0.5):
    "True when a SIP proxy answers an OPTIONS on 127.0.0.1:port."
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        msg = (
            'OPTIONS sip:%(h)s:%(p)d SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %(h)s:%(l)d;branch=z9hG4bK%(b)d\r\n'
            'From: <sip:probe@%(h)s>;tag=probe\r\n'
            'To: <sip:%(h)s:%(p)d>\r\n'
            'Call-ID: probe-%(b)d@%(h)s\r\n'
            'CSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n'
            % {'h': HOST, 'p': port, 'l': local,
                'b': int(time.monotonic() * 1e6)})
        sock.sendto(msg.encode(), (HOST, port))
        try:
            data = sock.recv(4096)
        except OSError:
            return False
        return data.startswith(b'SIP/2.0 200')


class Proxy:
    "A kamailio process on its own ports, runtime dir and log."

    def __init__(self, workdir, api_url, emergency_port, api_key=API_KEY,
            **overrides):
        self.workdir = workdir
        self.port = udp_port()
        self.ctl = 'unix:' + os.path.join(workdir, 'kamailio_ctl')
        self.log_path = os.path.join(workdir, 'kamailio.log')
        self.emergency_port = emergency_port
        self.spool_path = os.path.join(workdir, 'spool.sqlite')
        # the API's connection, as callcontrol-api.cfg.example has it
        connections = os.path.join(workdir, 'callcontrol-api.cfg')
        with open(connections, 'w') as file:
            file.write('[api]\nurl = %s\nusername = kamailio\n'
                'password = %s\nauthmethod = 1\n'
                % (api_url, api_key))
        defines = {
            'LISTEN': 'udp:%s:%d' % (HOST, self.port),
            'API_CONNECTION_FILE': '"%s"' % connections,
            'API_TIMEOUT': str(API_TIMEOUT),
            'EMERGENCY_GW': '"sip:%s:%d"' % (HOST, emergency_port),
            'CTL_SOCKET': '"%s"' % self.ctl,
            'FR_TIMER': '2000',
            'CHILDREN': '2',
            'AUTHORIZE_WORKERS_GROUP': '"name=authorize;workers=4"',
            'ASYNC_WORKERS': '4',
            # the spool outlives the process: a restarted proxy in the
            # same directory replays what its predecessor kept
            'SPOOL_DB': '"spool=>sqlite:///%s"' % self.spool_path,
            # the tests' slices last seconds; htable's expiry ticks each
            # second: an update 3 s ahead is sent before the cut
            'SLICE_MARGIN': '3',
            **overrides,
            }
        self.args = [KAMAILIO, '-f', CFG, '-DD', '-E', '-Y', workdir,
            '-P', os.path.join(workdir, 'kamailio.pid'), '-w', workdir,
            '-m', '64', '-M', '8']
        for name, value in defines.items():
            self.args += ['-A', '%s=%s' % (name, value)]
        # processes with a kept-open connection to the API: the
        # authorize workers and the "events" group's
        self.async_workers = int(defines['ASYNC_WORKERS']) + int(re.search(
                r'workers=(\d+)', defines['AUTHORIZE_WORKERS_GROUP']).group(1))
        self.process = None

    def start(self):
        # appended: a restarted proxy's log follows its predecessor's
        self.log = open(self.log_path, 'a')
        self.process = subprocess.Popen(self.args, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('kamailio exited:\n' + self.log_tail())
            if sip_options(self.port):
                return self
        raise TimeoutError('kamailio did not answer:\n' + self.log_tail())

    def stop(self):
        if self.process and self.process.poll() is None:
            # kamailio's main process stops its children on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=5)
        self.log.close()

    def kill(self):
        "kill -9 of every kamailio process: a crash, nothing flushed"
        os.killpg(self.process.pid, 9)
        self.process.wait(timeout=5)
        self.log.close()

    def spooled(self):
        "The spool's rows: (call id, status, refused), oldest first"
        if not os.path.exists(self.spool_path):
            return []
        with sqlite3.connect(self.spool_path, timeout=10) as connection:
            rows = connection.execute('SELECT call_id, status, refused '
                'FROM spool ORDER BY id').fetchall()
        return [(base64.b64decode(c).decode(), s, r) for c, s, r in rows]

    def log_text(self):
        with open(self.log_path, errors='replace') as log:
            return log.read()

    def log_tail(self, lines=40):
        return '\n'.join(self.log_text().splitlines()[-lines:])

    def rpc(self, *command):
        out = subprocess.run([KAMCMD, '-s', self.ctl, *command],
            capture_output=True, text=True, timeout=10)
        return out.stdout


class Sipp:
    "One sipp process, UAC or UAS, bounded in time, killed at the end."

    def __init__(self, workdir, scenario, port, *args, remote=None,
            host=HOST):
        self.name = '%s-%d' % (os.path.splitext(scenario)[0], port)
        self.log_file = os.path.join(workdir, self.name + '.log')
        self.err_file = os.path.join(workdir, self.name + '.err')
        self.args = [SIPP, '-sf', os.path.join(SCENARIOS, scenario),
            '-i', host, '-p', str(port), '-nostdin',
            '-trace_logs', '-log_file', self.log_file,
            '-trace_err', '-error_file', self.err_file, *args]
        if remote:
            self.args.insert(1, remote)
        self.workdir = workdir
        self.process = None

    def start(self):
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.args, cwd=self.workdir,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        return self

    def wait(self, timeout):
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.kill()
        self.elapsed = time.monotonic() - self.started
        return self.process.returncode

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def text(self, path):
        try:
            with open(path, errors='replace') as file:
                return file.read()
        except FileNotFoundError:
            return ''

    def finals(self):
        "The final codes uac_reject.xml logged."
        return [int(code) for code in
            re.findall(r'FINAL (\d{3})', self.text(self.log_file))]

    def errors(self):
        return self.text(self.err_file)[-2000:]


@pytest.fixture(scope='module')
def api():
    fake = FakeCallControl(HOST).start()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('kamailio'))


@pytest.fixture(scope='module')
def emergency_port():
    return udp_port()


@pytest.fixture(scope='module')
def proxy(api, workdir, emergency_port):
    proxy = Proxy(workdir, api.url, emergency_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def sipps(workdir):
    started = []

    def make(scenario, *args, remote=None, port=None, host=HOST):
        one = Sipp(workdir, scenario, port or udp_port(), *args,
            remote=remote, host=host)
        started.append(one)
        return one
    try:
        yield make
    finally:
        for one in started:
            one.kill()


@pytest.fixture(autouse=True)
def no_leaked_slot(request):
    """Check (5): after every test, every call the API allowed got its
    ``end`` -- no concurrency slot or prepaid reservation is left."""
    if 'api' not in request.fixturenames:
        yield
        return
    api = request.getfixturevalue('api')
    api.reset()
    yield
    api.wait(lambda a: not a.open_slots(), timeout=5)
    assert api.open_slots() == [], 'allowed calls never ended'
    api.policy = lambda body: deny('unknown_account', 403, 21)
    api.delay = 0


def customer(sipps, proxy, scenario, callee, *args, caller='1001',
        host=HOST):
    "A customer's sipp calling through the proxy from ``host``"
    return sipps(scenario, '-m', '1', '-s', callee, '-key', 'caller',
        caller, '-timeout', '25s', '-timeout_error', *args,
        remote='%s:%d' % (HOST, proxy.port), host=host)


def carrier(sipps, scenario, port=None):
    return sipps(scenario, '-m', '1', '-timeout', '30s', '-timeout_error',
        port=port).start()


def routes(*ports):
    names = ['CARRIER-%s' % chr(ord('A') + i) for i in range(len(ports))]
    return [{'carrier': name, 'gateway': 'sip:%s:%d' % (HOST, port),
            'dialstring': '34911223344'} for name, port in zip(names, ports)]


def call_ids_for(api, path):
    return [body['call_id'] for _, p, body in api.requests if p == path]


def test_failover_answer_end_and_cdr(api, proxy, sipps):
    down = carrier(sipps, 'uas_503.xml')
    up = carrier(sipps, 'uas.xml')
    api.policy = lambda body: allow(
        routes(int(down.args[down.args.index('-p') + 1]),
            int(up.args[up.args.index('-p') + 1])), account='ACME-1')
    uac = customer(sipps, proxy, 'uac.xml', '34911223344', '-d', '2000')
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    assert down.wait(10) == 0, down.errors()
    assert up.wait(10) == 0, up.errors()

    [call_id] = call_ids_for(api, '/v1/authorize')
    assert api.wait(lambda a: (call_id, 'a') in a.cdrs), proxy.log_tail()
    authorize = api.authorized[call_id]
    assert authorize['caller'] == '1001'
    assert authorize['callee'] == '34911223344'
    assert authorize['direction'] == 'outbound'
    assert authorize['source_ip'] == HOST
    assert authorize['service'] == 'voice'
    assert call_id in api.answered
    assert api.ended[call_id]['cause'] == 16
    paths = [p.rsplit('/', 1)[-1] for p in api.paths()]
    assert paths == ['authorize', 'answer', 'end', 'cdrs']

    cdr = api.cdrs[(call_id, 'a')]
    assert cdr['disposition'] == 'ANSWERED'
    assert cdr['carrier'] == 'CARRIER-B'
    assert cdr['account'] == 'ACME-1'
    assert cdr['hangup_cause'] == 16
    assert cdr['caller'] == '1001' and cdr['callee'] == '34911223344'
    assert abs(cdr['billable_seconds'] - 2) <= 1, cdr
    assert cdr['start'] <= cdr['answer'] < cdr['end']
    # the answering carrier's post-dial delay, and the service rated
    assert cdr['service'] == 'voice'
    assert isinstance(cdr['pdd_ms'], int) and 0 <= cdr['pdd_ms'] < 5000
    assert api.unauthenticated == 0


@pytest.mark.parametrize('answer, code', [
        (deny('concurrency_limit', 403, 34), 403),
        (deny('insufficient_credit', 402, 21), 402),
        # no sip_code from the API: the cfg's own table
        ({'decision': 'deny', 'reason': 'insufficient_credit'}, 402),
        ({'decision': 'deny', 'reason': 'unknown_account'}, 403),
        ])
def test_denied_call_gets_the_api_code(api, proxy, sipps, answer, code):
    api.policy = lambda body: answer
    uac = customer(sipps, proxy, 'uac_reject.xml', '34911223344')
    assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
    assert uac.finals() == [code]
    assert api.paths() and set(api.paths()) == {'/v1/authorize'}


def test_prepaid_call_cut_at_max_duration(api, proxy, sipps):
    up = carrier(sipps, 'uas.xml')
    port = int(up.args[up.args.index('-p') + 1])
    api.policy = lambda body: allow(routes(port), account='PREPAID-7',
        max_duration=3)
    uac = customer(sipps, proxy, 'uac_cut.xml', '34911223344')
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    # the UAC never hangs up: the proxy's BYE ends the call at ~3 s
    assert 2.0 <= uac.elapsed <= 4.5, uac.elapsed
    assert up.wait(10) == 0, up.errors()  # the carrier got its BYE too
    [call_id] = call_ids_for(api, '/v1/authorize')
    assert api.wait(lambda a: (call_id, 'a') in a.cdrs), proxy.log_tail()
    cdr = api.cdrs[(call_id, 'a')]
    assert 2 <= cdr['billable_seconds'] <= 3, cdr
    assert cdr['account'] == 'PREPAID-7'
    assert call_id in api.ended


def test_api_down_fails_closed_but_emergency_is_routed(
        api, proxy, sipps, emergency_port):
    api.stop()
    try:
        uac = customer(sipps, proxy, 'uac_reject.xml', '34911223344')
        assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
        assert uac.finals() == [503]

        gateway = carrier(sipps, 'uas.xml', port=emergency_port)
        uac = customer(sipps, proxy, 'uac.xml', '112', '-d', '500')
        assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
        assert gateway.wait(10) == 0, gateway.errors()
        # the emergency CDR could not be posted: kept in the spool
        deadline = time.monotonic() + 10
        while len(proxy.spooled()) < 1:
            assert time.monotonic() < deadline, proxy.log_tail()
            time.sleep(0.1)
        [(call_id, status, refused)] = proxy.spooled()
        assert refused is None
    finally:
        api.start()
    # back up: the spool is replayed, the CDR arrives whole, once
    assert api.wait(lambda a: (call_id, 'a') in a.cdrs), proxy.log_tail()
    cdr = api.cdrs[(call_id, 'a')]
    assert (cdr['callee'], cdr['account']) == ('112', None), cdr
    assert api.paths() == ['/v1/cdrs']
    deadline = time.monotonic() + 5
    while proxy.spooled():
        assert time.monotonic() < deadline, proxy.spooled()
        time.sleep(0.1)


def test_spool_replays_a_cdr_refused_5xx_but_keeps_a_malformed_one(
        api, proxy, sipps):
    """A CDR answered 503 waits in the spool and arrives once the API
    takes it; one answered 422 (malformed: sending it again cannot help)
    stays in the spool, marked with the status, and is not sent again.
    The call's end goes first and is taken either way."""
    up = sipps('uas.xml', '-m', '2', '-timeout', '30s',
        '-timeout_error').start()
    api.policy = lambda body: allow(
        routes(int(up.args[up.args.index('-p') + 1])), account='ACME-1')
    spooled = {}
    for status in (422, 503):
        api.cdr_status = status
        uac = customer(sipps, proxy, 'uac.xml', '34911223344', '-d', '200')
        assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
        deadline = time.monotonic() + 10
        while len(proxy.spooled()) < len(spooled) + 1:
            assert time.monotonic() < deadline, proxy.log_tail()
            time.sleep(0.1)
        call_id, _, refused = proxy.spooled()[-1]
        assert refused == (422 if status == 422 else None)
        assert call_id in api.ended
        spooled[status] = call_id
    api.cdr_status = None
    assert api.wait(lambda a: (spooled[503], 'a') in a.cdrs), proxy.log_tail()
    time.sleep(2)  # two more replays: the refused one is not among them
    assert (spooled[422], 'a') not in api.cdrs
    assert proxy.spooled() == [(spooled[422], 422, 422)]
    assert [body['call_id'] for _, path, body in api.requests
        if path == '/v1/cdrs'].count(spooled[422]) == 1
    assert 'API refused a document of %s (422)' % spooled[422] \
        in proxy.log_text()
    up.wait(10)
    # the operator's part, done: the next tests start with an empty spool
    with sqlite3.connect(proxy.spool_path) as connection:
        connection.execute('DELETE FROM spool')


def test_slow_api_fails_closed_and_releases_the_slot(api, proxy, sipps):
    api.delay = API_TIMEOUT + 1
    up = carrier(sipps, 'uas.xml')
    port = int(up.args[up.args.index('-p') + 1])
    api.policy = lambda body: allow(routes(port))
    uac = customer(sipps, proxy, 'uac_reject.xml', '34911223344')
    assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
    assert uac.finals() == [503]
    assert uac.elapsed < API_TIMEOUT + 1.5
    # the API allowed it too late; the proxy's `end` gives the slot back
    # (checked by no_leaked_slot)
    assert api.wait(lambda a: a.authorized and not a.open_slots(),
        timeout=API_TIMEOUT + 4)
    up.kill()


def test_connections_to_the_api_are_kept_open(api, proxy, sipps):
    """Every request of a call rides a connection the proxy keeps open (one
    per async worker at most): no TCP handshake per request"""
    up = sipps('uas.xml', '-m', '6', '-timeout', '30s',
        '-timeout_error').start()
    api.policy = lambda body: allow(
        routes(int(up.args[up.args.index('-p') + 1])), account='ACME-1')
    uac = sipps('uac.xml', '-m', '6', '-r', '2', '-d', '200', '-s',
        '34911223344', '-key', 'caller', '1001', '-timeout', '25s',
        '-timeout_error', remote='%s:%d' % (HOST, proxy.port), host=HOST)
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    assert up.wait(10) == 0, up.errors()
    assert api.wait(lambda a: len(a.cdrs) == 6), proxy.log_tail()
    # 6 calls x (authorize, answer, end, CDR)
    assert len(api.requests) == 24
    assert 1 <= len(api.connections) <= proxy.async_workers
    assert api.unauthenticated == 0


def test_answer_end_and_cdr_posts_never_hold_up_a_call(api, proxy, sipps):
    """Billing's share of the post-dial delay is the authorize alone: with
    the API taking 0.5 s to answer each answer, end and CDR post (1.5 s of
    posting a call, 6 s a second at 4 calls/s: more than 4 workers could
    give, had authorize shared them), no call waits for them."""
    calls = 8
    up = sipps('uas.xml', '-m', str(calls), '-timeout', '40s',
        '-timeout_error').start()
    api.policy = lambda body: allow(
        routes(int(up.args[up.args.index('-p') + 1])), account='ACME-1')
    api.event_delay = 0.5
    uac = sipps('uac.xml', '-m', str(calls), '-r', '4', '-d', '100', '-s',
        '34911223344', '-key', 'caller', '1001', '-timeout', '35s',
        '-timeout_error', '-trace_rtt', '-rtt_freq', '1',
        remote='%s:%d' % (HOST, proxy.port), host=HOST)
    assert uac.start().wait(40) == 0, uac.errors() + proxy.log_tail()
    assert up.wait(10) == 0, up.errors()
    # sipp's INVITE -> 200 OK of each call (rtd), in ms
    with open(os.path.join(proxy.workdir, 'uac_%d_rtt.csv'
            % uac.process.pid)) as file:
        pdd = [float(line.split(';')[1]) for line in file
            if line[:1].isdigit()]
    assert len(pdd) == calls, pdd
    # with the posts in the authorize workers' queue: 0.5 s and more
    assert max(pdd) < 250, pdd
    # the posts all arrive, late
    assert api.wait(lambda a: len(a.cdrs) == calls and len(a.ended) == calls,
        timeout=20), proxy.log_tail()
    assert len(api.answered) == calls


def test_no_dialog_left_on_the_switch(api, proxy):
    "Runs last: the proxy holds no live dialog once every call ended."
    deadline = time.monotonic() + 5
    while True:
        stats = proxy.rpc('dlg.stats_active')
        counts = dict(re.findall(r'(\w+): (\d+)', stats))
        if 'all' in counts and all(
                int(counts.get(key, 0)) == 0 for key in (
                    'starting', 'connecting', 'answering', 'ongoing')):
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.2)
    assert 'CRITICAL' not in proxy.log_text()
