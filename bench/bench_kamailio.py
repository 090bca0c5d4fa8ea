"""Throughput of the Kamailio proxy with billing: sipp calls at a fixed
rate through Debian's kamailio (switch/kamailio/kamailio.cfg) against the
fake call-control API of the end-to-end tests, all on 127.0.0.1.

Two passes at the same rate: calls to a normal number (authorize over
HTTP, answer, end and CDR posted) and calls to an emergency number (routed
without the API). The post-dial delay (INVITE sent -> 200 OK received, as
sipp's response-time of each call) of the second pass is the proxy alone;
the difference is what billing adds. Prints failed calls, PDD percentiles
and the API's books (every allowed call ended, one CDR per call), and,
from every billed call's PDD_TRACE line (kamailio.cfg), where billing's
share went inside the proxy: the hand-off to an authorize worker, building
the request, the API's answer, reading it.

With ``--real-api`` the API is the real ``telecom-callcontrol`` on
PostgreSQL (a database of tests/e2e/callcontrol_fixture.py, the customer
found by its source address 127.0.0.11, CDRs stored by the API and rated by
its rating worker, a process of its own; ``--no-rate``: no rating worker);
the books printed are then the database's: CDRs stored and rated, live
calls left.

Usage: python bench/bench_kamailio.py [--quick] [--rate R] [--seconds N]
       [--hold MS] [--real-api [--workers W] [--no-rate]]
"""
import argparse
import csv
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if not (shutil.which('kamailio') or os.path.exists('/usr/sbin/kamailio')) \
        or not shutil.which('sipp'):
    print('kamailio or sipp is not installed: skipped '
        '(apt-get install kamailio kamailio-extra-modules '
        'kamailio-utils-modules kamailio-json-modules sip-tester)')
    sys.exit(0)

from tests.e2e.fake_callcontrol import FakeCallControl, allow  # noqa: E402
from tests.e2e.test_kamailio import (  # noqa: E402
    HOST, SCENARIOS, SIPP, Proxy, udp_port)


def percentile(values, q):
    if not values:
        return float('nan')
    values = sorted(values)
    index = int(round(q / 100 * (len(values) - 1)))
    return values[min(len(values) - 1, index)]


def header(message, name):
    "Values of a SIP header (full name) in a message, in order."
    values = []
    for line in message.split('\r\n')[1:]:
        if not line:
            break
        key, _, value = line.partition(':')
        if key.strip().lower() == name.lower():
            values.append(value.strip())
    return values


def probe(proxy_port, callee, seconds, interval, out, host=HOST):
    """Our own calls among sipp's, timed with perf_counter (sipp's response
    times come in 4 ms steps): INVITE -> 200 OK is the post-dial delay;
    each call is ACKed and hung up at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(5)
    local = sock.getsockname()[1]
    target = (HOST, proxy_port)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        call_id = 'probe-%d-%d@%s' % (os.getpid(), n, HOST)
        common = ('From: <sip:1001@%s:%d>;tag=p%d\r\nCall-ID: %s\r\n'
            'Max-Forwards: 70\r\nContent-Length: 0\r\n' % (
                host, local, n, call_id))
        invite = ('INVITE sip:%s@%s:%d SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKp%di\r\n'
            'To: <sip:%s@%s:%d>\r\nCSeq: 1 INVITE\r\n'
            'Contact: <sip:1001@%s:%d>\r\n%s\r\n' % (
                callee, HOST, proxy_port, host, local, n, callee, HOST,
                proxy_port, host, local, common))
        start = time.perf_counter()
        sock.sendto(invite.encode(), target)
        answer = None
        try:
            while answer is None:
                data = sock.recv(65535).decode(errors='replace')
                if call_id not in data or not data.startswith('SIP/2.0 '):
                    continue
                code = int(data[8:11])
                if code >= 200:
                    answer = (code, data, time.perf_counter() - start)
        except OSError:
            out['failed'] += 1
            continue
        code, data, pdd = answer
        if code != 200:
            out['failed'] += 1
            continue
        out['pdd'].append(pdd * 1000)
        to = header(data, 'To')[0]
        contact = header(data, 'Contact')[0].strip('<>').split('>')[0]
        routes = ''.join('Route: %s\r\n' % rr
            for rr in reversed(header(data, 'Record-Route')))
        for method, cseq, branch in (('ACK', 1, 'a'), ('BYE', 2, 'b')):
            sock.sendto(('%s %s SIP/2.0\r\n'
                'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKp%d%s\r\n'
                '%sTo: %s\r\nCSeq: %d %s\r\n%s\r\n' % (
                    method, contact, host, local, n, branch, routes, to,
                    cseq, method, common)).encode(), target)
        try:
            while True:
                data = sock.recv(65535).decode(errors='replace')
                if call_id in data and 'BYE' in header(data, 'CSeq')[0]:
                    break
        except (OSError, IndexError):
            out['failed'] += 1
        time.sleep(interval)
    sock.close()


def pdd_trace(log_path):
    """Percentiles (p50, p99, µs) of the parts of billing's post-dial delay
    inside the proxy, from kamailio.cfg's PDD_TRACE lines of ``log_path``:
    the hand-off to an authorize worker, building the
    request, the API's answer, reading it (routes, dialog), and their sum
    per call: everything billing adds inside the proxy, for every call
    (sipp's and the probe's), where the probe samples 5 calls a second."""
    parts = {'hand-off': [], 'request': [], 'API': [], 'read': [],
        'total': []}
    with open(log_path, errors='replace') as log:
        for line in log:
            if 'PDD_TRACE ' not in line:
                continue
            try:
                h, b, x, r = (int(v) for v in
                    line.split('PDD_TRACE ', 1)[1].split()[:4])
            except ValueError:
                continue
            for name, value in zip(parts, (h, b - h, x - b, r - x, r)):
                parts[name].append(value)
    return {name: (percentile(values, 50), percentile(values, 99))
        for name, values in parts.items()}


def run_pass(workdir, proxy, callee, rate, seconds, hold, host=HOST):
    total = rate * seconds
    tag = 'pass-%s' % callee
    directory = os.path.join(workdir, tag)
    os.makedirs(directory)
    uac = subprocess.Popen([SIPP, '%s:%d' % (HOST, proxy.port),
            '-sf', os.path.join(SCENARIOS, 'uac.xml'),
            '-i', host, '-p', str(udp_port()), '-nostdin',
            '-s', callee, '-key', 'caller', '1001',
            '-r', str(rate), '-rp', '1000', '-m', str(total),
            '-d', str(hold), '-l', str(rate * (hold // 1000 + 5)),
            '-timeout', '%ds' % (seconds + hold // 1000 + 30),
            '-trace_rtt', '-rtt_freq', '1',
            '-trace_stat', '-stf', os.path.join(directory, 'stat.csv'),
            '-fd', '1', '-trace_err'],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    probes = {'pdd': [], 'failed': 0}
    prober = threading.Thread(target=probe, args=(
            proxy.port, callee, seconds, 0.2, probes, host), daemon=True)
    time.sleep(0.5)
    prober.start()
    try:
        uac.wait(timeout=seconds + hold / 1000 + 60)
        prober.join(timeout=30)
    except subprocess.TimeoutExpired:
        uac.kill()
        uac.wait()
    with open(os.path.join(directory, 'stat.csv')) as file:
        rows = list(csv.reader(file, delimiter=';'))
    header, last = rows[0], rows[-1]
    stat = dict(zip(header, last))
    pdd = []
    for path in glob.glob(os.path.join(directory, '*_rtt.csv')):
        with open(path) as file:
            for row in csv.reader(file, delimiter=';'):
                try:
                    pdd.append(float(row[1]))
                except (ValueError, IndexError):
                    continue
    return {
        'total': total,
        'successful': int(stat.get('SuccessfulCall(C)', 0)),
        'failed': int(stat.get('FailedCall(C)', 0)),
        'sipp_pdd': pdd,
        'pdd': probes['pdd'],
        'probe_failed': probes['failed'],
        'rc': uac.returncode,
        }


def report(name, result):
    pdd = result['pdd']
    print('%-20s sipp: %d calls, %d ok, %d failed (rc %d), PDD p99 %.0f ms '
        '(4 ms steps); probe: %d calls, %d failed, PDD ms p50 %.2f '
        'p99 %.2f max %.2f' % (
            name, result['total'], result['successful'], result['failed'],
            result['rc'], percentile(result['sipp_pdd'], 99), len(pdd),
            result['probe_failed'],
            statistics.median(pdd) if pdd else float('nan'),
            percentile(pdd, 99), max(pdd) if pdd else float('nan')))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help='50 calls/s for 5 s')
    parser.add_argument('--rate', type=int, default=100)
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--hold', type=int, default=1000,
        help='call duration, ms')
    parser.add_argument('--real-api', action='store_true',
        help='the real telecom-callcontrol on PostgreSQL (CDRs rated by its '
        'rating worker) instead of the fake API')
    parser.add_argument('--workers', type=int, default=2,
        help='API processes with --real-api')
    parser.add_argument('--no-rate', action='store_true',
        help='with --real-api: CDRs stored, no rating worker (left to the '
        'rating cron)')
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds = 50, 5
    baseline_seconds = min(args.seconds, 20)

    workdir = tempfile.mkdtemp(prefix='bench-kamailio-')
    carrier_port = udp_port()
    emergency_port = udp_port()
    platform = api = None
    if args.real_api:
        # The real telecom-callcontrol on PostgreSQL: the customer is the
        # fixture's kam-post, found by its address 127.0.0.11; both
        # carriers' gateways are the bench carrier; every CDR is rated by
        # the API's rating worker.
        from pathlib import Path

        from tests.e2e.test_callcontrol import Platform
        host, callee = '127.0.0.11', '442079460000'
        platform = Platform('postgresql', Path(workdir), gateways=[
                '%s:%d' % (HOST, carrier_port)] * 2,
            api_args=['--workers', str(args.workers), '--refresh', '2',
                '--lag-probe']
            + (['--no-rater'] if args.no_rate else []))
        url, key = platform.url, platform.keys['owner_key']
    else:
        host, callee = HOST, '34911223344'
        api = FakeCallControl(HOST).start()
        carrier_route = [{'carrier': 'BENCH', 'dialstring': '34911223344',
                'gateway': 'sip:%s:%d' % (HOST, carrier_port)}]
        api.policy = lambda body: allow(carrier_route, account='BENCH-1')
        url, key = api.url, None
    overrides = {'api_key': key} if key else {}
    # kamailio.cfg's own worker counts: 8 authorize, 4 posting the rest
    proxy = Proxy(workdir, url, emergency_port, CHILDREN='4',
        AUTHORIZE_WORKERS_GROUP='"name=authorize;workers=8"',
        ASYNC_WORKERS='4', LOG_LEVEL='1', PDD_TRACE='1', **overrides)
    carriers = []
    ok = False
    try:
        proxy.start()
        for port in (carrier_port, emergency_port):
            carriers.append(subprocess.Popen([SIPP,
                    '-sf', os.path.join(SCENARIOS, 'uas.xml'),
                    '-i', HOST, '-p', str(port), '-nostdin'],
                cwd=workdir, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
        time.sleep(0.5)
        print('kamailio %s, %d calls/s, %d s, calls held %d ms, %s API; '
            'workdir %s' % (subprocess.run(['kamailio', '-v'],
                    capture_output=True, text=True).stdout.split()[2],
                args.rate, args.seconds, args.hold,
                'REAL (PostgreSQL, %d workers)' % args.workers
                if platform else 'fake', workdir))
        if platform:
            # the API workers' lag probes count from here
            from bench_callcontrol import reset_lag_probes
            reset_lag_probes(platform.process.pid)
        billed = run_pass(workdir, proxy, callee, args.rate,
            args.seconds, args.hold, host)
        report('with billing API', billed)
        print('inside the proxy, µs p50/p99: ' + ', '.join(
                '%s %d/%d' % (name, *values) for name, values in
                pdd_trace(proxy.log_path).items()))
        if platform:
            books = real_books(platform, billed['successful'],
                rated=not args.no_rate)
            print('API books: %d CDRs stored, %d rated, %d live calls left '
                '(%d holding a slot)' % books)
            open_slots = books[3]
        else:
            api.wait(lambda a: len(a.cdrs) >= billed['successful'],
                timeout=30)
            print('API books: %d authorized, %d answered, %d ended, '
                '%d CDRs, %d open slots' % (len(api.authorized),
                    len(api.answered), len(api.ended), len(api.cdrs),
                    len(api.open_slots())))
            open_slots = len(api.open_slots())
        baseline = run_pass(workdir, proxy, '112', args.rate,
            baseline_seconds, args.hold, host)
        report('proxy alone (112)', baseline)
        added_p50 = statistics.median(billed['pdd']) - statistics.median(
            baseline['pdd'])
        added_p99 = percentile(billed['pdd'], 99) - percentile(
            baseline['pdd'], 99)
        print('billing adds to post-dial delay: p50 %.2f ms, p99 %.2f ms'
            % (added_p50, added_p99))
        ok = (billed['failed'] == 0 and baseline['failed'] == 0
            and billed['probe_failed'] == 0
            and billed['successful'] == billed['total']
            and not open_slots)
        print('RESULT', 'ok' if ok else 'FAILED CALLS OR OPEN SLOTS '
            '(logs kept in %s)' % workdir)
    finally:
        for process in carriers:
            process.kill()
            process.wait(timeout=5)
        proxy.stop()
        if api:
            api.close()
        if platform:
            platform.stop()
            # each API worker logs its event loop's lateness when it stops
            # (Kamailio's kept-open connections are spread over the
            # workers by the kernel: one may get most of them)
            with open(platform.log_path) as log:
                for line in log:
                    if 'loop lag' in line:
                        print('worker', line.split(' INFO ', 1)[-1].strip())
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)


def real_books(platform, expected, timeout=60, rated=True):
    """(CDRs, rated, live calls, live calls not ended) once CDRs are in
    (and rated, with ``rated``)"""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        (cdrs, done), = platform.sql(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE state = 'rated') "
            "FROM telecom_cdr WHERE callee != '112'")
        if ((cdrs >= expected and (not rated or done >= cdrs))
                or time.monotonic() > deadline):
            break
        time.sleep(0.5)
    print('books settled %.1f s after the last call' % (
            time.monotonic() - started))
    (live, holding), = platform.sql(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE state != 'ended') "
        "FROM telecom_live_call")
    return cdrs, done, live, holding


if __name__ == '__main__':
    main()
