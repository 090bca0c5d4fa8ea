"""Kamailio against the REAL call-control API, on PostgreSQL.

Debian's kamailio with switch/kamailio/kamailio.cfg asks a real
``telecom-callcontrol`` process serving a database of
``callcontrol_fixture.py``; sipp plays the customers and the two carriers
(Alpha, the cheaper and so tried first, answers 503; Beta answers). All on
127.0.0.1 (customers send from 127.0.0.11-13: Kamailio sends no SIP user,
the API finds the account by source address).

Prices (Retail plan): UK numbers (44) 0.60 EUR a minute in 1-second steps,
so a call of N billable seconds costs N x 0.01 EUR.

Checks: failover then answer, the CDR stored and rated; a customer at its
limit gets 403; a prepaid call is cut at its maximum duration and the
balance falls by the rated cost; with the API down calls get 503 but an
emergency number is routed; after every test no ``telecom_live_call`` row
is left (the API's rating worker rates the CDRs, which deletes them).
"""
import csv
import os
import threading
import time
from decimal import Decimal

import pytest

from .test_callcontrol import PG_URI, Platform, pg_available, rater_of
from .test_kamailio import (  # noqa: F401 (sipps, workdir: fixtures)
    HOST, Proxy, carrier, customer, sipps, udp_port, workdir)

POSTPAID, LIMITED, PREPAID = '127.0.0.11', '127.0.0.12', '127.0.0.13'
MANY = '127.0.0.14'  # prepaid 0.75, up to 5 calls at once
CALLEE = '442079460000'
PER_SECOND = Decimal('0.01')  # 0.60 a minute


@pytest.fixture(scope='module')
def ports():
    return {name: udp_port() for name in ('alpha', 'beta', 'emergency')}


@pytest.fixture(scope='module')
def platform(tmp_path_factory, ports):
    if not pg_available():
        if os.environ.get('CI') == 'true':
            pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
        pytest.skip(f"PostgreSQL does not answer at {PG_URI}")
    # slices of 5 seconds (the proxy asks for the next one 3 s before
    # the end of each): the slice test runs in seconds, not minutes
    platform = Platform('postgresql', tmp_path_factory.mktemp('kam-cc'),
        gateways=['%s:%d' % (HOST, ports['alpha']),
            '%s:%d' % (HOST, ports['beta'])], api_args=['--slice', '5'])
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope='module')
def proxy(platform, workdir, ports):  # noqa: F811
    proxy = Proxy(workdir, platform.url, ports['emergency'],
        api_key=platform.keys['owner_key']).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def live_calls(platform):
    return platform.sql(
        'SELECT call_id, state FROM telecom_live_call ORDER BY id')


@pytest.fixture(autouse=True)
def nothing_left(platform):
    """After every test: no slot, no reservation, no call awaiting its CDR
    (the API's rating worker rates the CDRs and so releases the calls; after
    an API restart it starts anew, which on a busy machine takes a while)"""
    yield
    deadline = time.monotonic() + 60
    while live_calls(platform) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_calls(platform) == []


def carriers(sipps, ports, calls=1):  # noqa: F811
    "Alpha out of service (503), Beta answering: ``calls`` calls each"
    return tuple(sipps(scenario, '-m', str(calls), '-timeout', '60s',
            '-timeout_error', port=ports[name]).start()
        for name, scenario in (('alpha', 'uas_503.xml'), ('beta', 'uas.xml')))


def customers(sipps, proxy, scenario, calls, *args, host):  # noqa: F811
    "``calls`` calls at once from one customer's sipp"
    return sipps(scenario, '-m', str(calls), '-l', str(calls), '-r', '20',
        '-s', CALLEE, '-key', 'caller', '1001', '-timeout', '50s',
        '-timeout_error', *args, remote='%s:%d' % (HOST, proxy.port),
        host=host)


def wait_for(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message()
        time.sleep(0.1)


def cdrs_of(platform, code, count=1, timeout=10):
    "The account's CDRs (waiting for ``count``), as the database has them"
    deadline = time.monotonic() + timeout
    while True:
        rows = platform.sql(
            'SELECT c.call_id FROM telecom_cdr c '
            'JOIN telecom_account a ON a.id = c.account '
            "WHERE a.code = %s AND c.state = 'rated'", code)
        if len(rows) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
Account = pool.get('telecom.account')
account, = Account.search([('code', '=', {code!r})])
result = {{'balance': str(account.balance), 'cdrs': [{{
        'call_id': c.call_id, 'state': c.state, 'duration': c.duration,
        'callee': c.callee, 'carrier': c.carrier,
        'disposition': c.disposition, 'hangup_cause': c.hangup_cause,
        'switch': c.switch, 'service': c.service, 'pdd_ms': c.pdd_ms,
        'charges': [str(x.amount) for x in c.charges]}}
    for c in Cdr.search([('account', '=', account.id)],
        order=[('id', 'ASC')])]}}
""")


def assert_rated(cdr, shortest, longest):
    "Rated at 0.60 a minute in 1-second steps; return its charge"
    assert cdr['state'] == 'rated', cdr
    assert shortest <= cdr['duration'] <= longest, cdr
    charge = PER_SECOND * cdr['duration']
    assert [Decimal(a) for a in cdr['charges']] == [charge]
    return charge


def test_failover_answer_cdr_rated(
        platform, proxy, sipps, ports):  # noqa: F811
    down, up = carriers(sipps, ports)
    uac = customer(sipps, proxy, 'uac.xml', CALLEE, '-d', '2000',
        host=POSTPAID)
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    assert down.wait(10) == 0, down.errors()
    assert up.wait(10) == 0, up.errors()

    code = platform.keys['kam-post']
    state = cdrs_of(platform, code)
    cdr, = state['cdrs']
    assert_rated(cdr, 1, 3)
    assert cdr['switch'] == 'owner-proxy'
    assert cdr['carrier'] == 'beta'
    assert cdr['callee'] == CALLEE
    assert (cdr['disposition'], cdr['hangup_cause']) == ('ANSWERED', 16)
    # The proxy measures the answering carrier's post-dial delay (its
    # INVITE to its first ringing or answer) and names the service.
    assert cdr['service'] == 'voice'
    assert cdr['pdd_ms'] is not None and 0 <= cdr['pdd_ms'] < 5000, cdr


def test_customer_at_its_limit_gets_403(
        platform, proxy, sipps, ports):  # noqa: F811
    "kam-lim may hold one outbound call: a second one meanwhile is refused"
    down, up = carriers(sipps, ports)
    first = customer(sipps, proxy, 'uac.xml', CALLEE, '-d', '4000',
        host=LIMITED).start()
    deadline = time.monotonic() + 10
    while ('answered',) not in [(s,) for _, s in live_calls(platform)]:
        assert time.monotonic() < deadline, proxy.log_tail()
        time.sleep(0.05)
    second = customer(sipps, proxy, 'uac_reject.xml', CALLEE, host=LIMITED)
    assert second.start().wait(20) == 0, second.errors() + proxy.log_tail()
    assert second.finals() == [403]
    assert first.wait(30) == 0, first.errors() + proxy.log_tail()
    assert up.wait(10) == 0, up.errors()
    down.wait(10)

    cdr, = cdrs_of(platform, platform.keys['kam-lim'])['cdrs']
    assert_rated(cdr, 3, 5)


def test_prepaid_call_cut_and_balance_falls(
        platform, proxy, sipps, ports):  # noqa: F811
    "0.03 EUR buys 3 seconds: the proxy BYEs both sides at 3 s"
    down, up = carriers(sipps, ports)
    uac = customer(sipps, proxy, 'uac_cut.xml', CALLEE, host=PREPAID)
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    # the customer never hangs up: the proxy's BYE ends the call within
    # the last second of the 3 (the dialog timer ticks every second)
    assert 1.5 <= uac.elapsed <= 4.5, uac.elapsed
    assert up.wait(10) == 0, up.errors()  # the carrier got its BYE too
    down.wait(10)

    state = cdrs_of(platform, platform.keys['kam-pre'])
    cdr, = state['cdrs']
    charge = assert_rated(cdr, 1, 3)
    assert Decimal(state['balance']) == Decimal('0.03') - charge


def test_api_down_fails_closed_emergency_routed(
        platform, proxy, sipps, ports):  # noqa: F811
    platform.stop_api()
    try:
        uac = customer(sipps, proxy, 'uac_reject.xml', CALLEE,
            host=POSTPAID)
        assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
        assert uac.finals() == [503]

        gateway = carrier(sipps, 'uas.xml', port=ports['emergency'])
        uac = customer(sipps, proxy, 'uac.xml', '112', '-d', '500',
            host=POSTPAID)
        assert uac.start().wait(20) == 0, uac.errors() + proxy.log_tail()
        assert gateway.wait(10) == 0, gateway.errors()
    finally:
        platform.start_api()
    # Back up: calls are billed again.
    down, up = carriers(sipps, ports)
    uac = customer(sipps, proxy, 'uac.xml', CALLEE, '-d', '500',
        host=POSTPAID)
    assert uac.start().wait(30) == 0, uac.errors() + proxy.log_tail()
    assert up.wait(10) == 0
    down.wait(10)


def test_ends_and_cdrs_survive_an_api_outage_and_a_proxy_crash(
        platform, proxy, sipps, ports):  # noqa: F811
    """Three calls end while the API is down: their ends and CDRs wait in
    the proxy's spool; the proxy is killed (kill -9) and started again;
    once the API is back every CDR is stored exactly once and rated, and
    every slot released (``nothing_left``). Before the spool they were
    only logged: the calls were never billed and their slots held."""
    down, up = carriers(sipps, ports, calls=3)
    uac = customers(sipps, proxy, 'uac.xml', 3, '-d', '3000',
        host=POSTPAID).start()
    wait_for(lambda: [s for _, s in live_calls(platform)].count(
            'answered') == 3, 20, proxy.log_tail)
    platform.stop_api()
    try:
        assert uac.wait(30) == 0, uac.errors() + proxy.log_tail()
        wait_for(lambda: len(proxy.spooled()) == 3, 10, proxy.log_tail)
        call_ids = sorted(c for c, _, _ in proxy.spooled())
        proxy.kill()
        proxy.start()
        # the new process replays what the killed one kept: not yet
        time.sleep(1.5)
        assert sorted(c for c, _, _ in proxy.spooled()) == call_ids
    finally:
        platform.start_api()
    wait_for(lambda: not proxy.spooled(), 30, proxy.log_tail)
    assert up.wait(10) == 0, up.errors()
    down.wait(10)
    stored = platform.sql(
        'SELECT call_id, count(*) FROM telecom_cdr WHERE call_id = ANY(%s) '
        'GROUP BY call_id ORDER BY call_id', call_ids)
    assert stored == [(c, 1) for c in call_ids]
    for cdr in cdrs_of(platform, platform.keys['kam-post'], count=4)['cdrs']:
        if cdr['call_id'] in call_ids:
            assert_rated(cdr, 2, 4)


def test_five_prepaid_calls_share_the_money_in_slices(
        platform, proxy, sipps, ports):  # noqa: F811
    """0.75 EUR at 0.60 a minute (75 seconds), up to 5 calls at once,
    slices of 5 s: five calls start together, each granted its first
    slice (5 x 0.05 reserved), then one more slice at each interim update
    while the money lasts: 10 s each (0.50), 15 s each (0.75), then the
    next update is final (nothing left) and the proxy cuts all five at
    15 s. Without slices the first call reserved the whole 75 s and the
    other four were refused; without updates all five were cut at 5 s.
    Each cut falls within the last second of its grant, the billable
    seconds are truncated: 14 or 15 s a call, 0.14 or 0.15 EUR; the
    five cost 0.70 to 0.75, never more than the balance."""
    code = platform.keys['kam-many']
    down, up = carriers(sipps, ports, calls=5)
    uac = customers(sipps, proxy, 'uac_cut.xml', 5, host=MANY).start()
    assert uac.wait(60) == 0, uac.errors() + proxy.log_tail()
    assert up.wait(10) == 0, up.errors()
    down.wait(10)
    state = cdrs_of(platform, code, count=5, timeout=30)
    assert len(state['cdrs']) == 5, state
    charges = [assert_rated(cdr, 14, 15) for cdr in state['cdrs']]
    assert Decimal('0.70') <= sum(charges) <= Decimal('0.75')
    assert Decimal(state['balance']) == Decimal('0.75') - sum(charges)
    assert Decimal(state['balance']) >= 0


def sipp_stat(path):
    "The counters of the last line of a sipp -trace_stat file"
    with open(path) as file:
        rows = list(csv.reader(file, delimiter=';'))
    return dict(zip(rows[0], rows[-1]))


RATE, SECONDS = 100, 60


def test_100_calls_a_second_through_an_api_outage_and_a_rater_crash(
        platform, proxy, sipps, ports, workdir):  # noqa: F811
    """sipp offers 100 calls a second for 60 s (held 1 s) through the
    real proxy and API; the API is stopped at 15 s for 10 s, then started
    again (calls in progress end into the spool; new ones get 503, fail
    closed, while it is down or starting); the rating worker is killed
    (kill -9) at 40 s (the API starts another). Then: every call the
    carrier and the customer completed has its CDR,
    exactly one, rated (0 unbilled, 0 doubled); no slot is held 2
    minutes after the last call; the spool is empty. (The carrier's
    count of calls is no witness: sipp takes a keep-alive OPTIONS or BYE
    of a call it has forgotten for a new call.) How many of the
    6,000 calls complete depends on the machine's load (the test
    prints it): on a loaded 2-core machine the API's authorize misses
    Kamailio's timeout and sipp falls behind its rate; billing must be
    exact whatever the count."""
    # Alpha, tried first, answers every call
    carrier_stat = os.path.join(workdir, 'rate-carrier.csv')
    carrier = sipps('uas.xml', '-trace_stat', '-stf', carrier_stat,
        '-fd', '1', port=ports['alpha'])
    carrier.start()
    customer_stat = os.path.join(workdir, 'rate-customer.csv')
    uac = sipps('uac.xml', '-r', str(RATE), '-rp', '1000',
        '-m', str(RATE * SECONDS), '-d', '1000', '-l', str(RATE * 6),
        '-s', CALLEE, '-key', 'caller', '1001', '-timeout', '150s',
        '-trace_stat', '-stf', customer_stat, '-fd', '1',
        remote='%s:%d' % (HOST, proxy.port), host=POSTPAID)
    uac.start()
    events = []

    def at(name):
        events.append((name, time.monotonic() - uac.started))

    def disrupt():
        time.sleep(15)
        at('API stopped')
        platform.stop_api()
        time.sleep(10)
        at('API started')
        platform.start_api()
        at('API answering')
        time.sleep(max(0, 40 - (time.monotonic() - uac.started)))
        os.kill(rater_of(platform), 9)
        at('rater killed')
    disruptor = threading.Thread(target=disrupt)
    disruptor.start()
    uac.wait(SECONDS + 120)
    disruptor.join(120)
    last_call = time.monotonic()
    time.sleep(2)  # the carrier's last statistics line
    carrier.kill()
    customer, carrier = sipp_stat(customer_stat), sipp_stat(carrier_stat)
    # calls answered and hung up, as each end saw them
    completed = max(int(customer['SuccessfulCall(C)']),
        int(carrier['SuccessfulCall(C)']))
    pattern = '%%-%d@%s' % (uac.process.pid, POSTPAID)

    def counts():
        return dict(platform.sql(
            "SELECT 'cdrs', count(*) FROM telecom_cdr WHERE call_id LIKE %s "
            "UNION ALL SELECT 'answered', count(*) FROM telecom_cdr "
            "WHERE call_id LIKE %s AND disposition = 'ANSWERED' "
            "UNION ALL SELECT 'unrated', count(*) FROM telecom_cdr "
            "WHERE call_id LIKE %s AND state != 'rated' "
            "UNION ALL SELECT 'doubled', count(*) FROM (SELECT call_id "
            "FROM telecom_cdr WHERE call_id LIKE %s GROUP BY call_id, leg "
            "HAVING count(*) > 1) d "
            "UNION ALL SELECT 'live', count(*) FROM telecom_live_call",
            *[pattern] * 4))
    while True:
        found = counts()
        released = time.monotonic() - last_call
        if (not found['live'] and not found['unrated']
                and found['answered'] >= completed
                and not proxy.spooled()) or released > 120:
            break
        time.sleep(1)
    print('\n%d calls offered at %d/s: sipp ran %s at %.1f calls/s; '
        'customer: %d completed, %d failed; carrier: %d completed; %s; '
        'CDRs: %d (%d answered), %d unrated, %d doubled; live calls %d, '
        '%.0f s after the last call; spool %d rows' % (
            RATE * SECONDS, RATE, customer['ElapsedTime(C)'],
            float(customer['CallRate(C)']),
            int(customer['SuccessfulCall(C)']),
            int(customer['FailedCall(C)']),
            int(carrier['SuccessfulCall(C)']),
            ', '.join('%s at %.1f s' % e for e in events),
            found['cdrs'], found['answered'], found['unrated'],
            found['doubled'], found['live'], released,
            len(proxy.spooled())))
    assert [name for name, _ in events] == [
        'API stopped', 'API started', 'API answering', 'rater killed']
    assert found['answered'] >= completed
    assert (found['unrated'], found['doubled'], found['live']) == (0, 0, 0)
    assert proxy.spooled() == []


def test_no_dialog_left_and_no_critical(proxy):
    "Runs last: the proxy holds no live dialog once every call ended."
    deadline = time.monotonic() + 5
    while True:
        stats = proxy.rpc('dlg.stats_active')
        if stats and all(f'{key}: 0' in stats for key in (
                    'starting', 'connecting', 'answering', 'ongoing')):
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.2)
    # But one kind: a reply that reaches a dialog already ended (a 200 OK or
    # a 487 for a call the caller gave up on while the 100 calls/s test
    # overloads the box: events 3 and 4 in state 5, "deleted") is logged
    # CRITICAL by Kamailio's dialog state machine, next_state_dlg(), as
    # "bogus event N in state M". It is the peers' message order under
    # overload, not the script; the calls' billing is that test's to check.
    critical = [line for line in proxy.log_text().splitlines()
        if 'CRITICAL' in line
        and 'next_state_dlg(): bogus event' not in line]
    assert not critical, critical[:5]
