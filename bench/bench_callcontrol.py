"""Throughput and latency of the call-control API's authorize over HTTP.

A real ``telecom-callcontrol`` (``--workers N`` processes on one port,
SO_REUSEPORT) serving a PostgreSQL database of
``tests/e2e/callcontrol_fixture.py`` plus ``--accounts`` customers (SIP
users ``bench-N``; one in ten prepaid with a large balance, the others
postpaid with a concurrency limit of 1,000 — every admission reads and
writes the account's live calls). A load generator in a separate process
sends authorize requests at a FIXED rate, open loop, over
``--connections`` keep-alive loopback connections: each request's latency
counts from when it was due, so a stalled server cannot hide its queue (no
coordinated omission).

Generators (``--generator``):
- ``wrk`` (default; Debian's ``wrk`` with ``callcontrol_authorize.lua``,
  one connection per thread, each on a schedule): C, a few percent of a
  core — the API and PostgreSQL get the machine's two cores.
- ``python`` (asyncio, hand-written HTTP/1.1; used when wrk is missing,
  with a warning): it takes about one core itself, so it measures the API
  on the one left. It alone can end calls: with ``--hold S`` each allowed
  call is ended (``POST /v1/calls/{id}/end``) S seconds later, as a switch
  would (the live-call table stays at rate x hold rows; ends are extra
  requests, not counted in the rate).

Usage: python bench/bench_callcontrol.py [--quick] [--rate R]
       [--seconds N] [--workers W] [--connections C] [--hold S]
       [--generator wrk|python]
Prints achieved authorize rate, p50/p99/max latency, errors, decisions.
Goal (issue 5): >= 1,000 authorize/s for 60 s with p99 <= 10 ms.
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CALLEES = ['442079460000', '442071234567', '447700900123', '441632960001']
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
    'callcontrol_authorize.lua')


def percentile(values, q):
    if not values:
        return float('nan')
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (
                        len(values) - 1))))]


def cpu_seconds(pid):
    "user + system CPU seconds of process ``pid`` (0 if it is gone)"
    try:
        with open(f'/proc/{pid}/stat') as file:
            fields = file.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def reset_lag_probes(pid):
    """SIGUSR1 to the API workers under ``pid`` (``--lag-probe``): each
    forgets what its probe saw so far — the set-up's snapshot builds are
    not the traffic's stalls"""
    import signal

    from tests.e2e.test_callcontrol import children
    for child, command in children(pid):
        if 'api.server' in command and '--reuse-port' in command:
            os.kill(child, signal.SIGUSR1)


class CpuMeter:
    """CPU time of the API's processes and of their PostgreSQL backends
    over a run (utime + stime from /proc): the cost of a request whatever
    the machine's load, which only stretches wall time."""

    def __init__(self, platform):
        from tests.e2e.test_callcontrol import children
        self.platform = platform
        self.api = [platform.process.pid] + [
            pid for pid, _ in children(platform.process.pid)]

    def backends(self):
        return [pid for pid, in self.platform.sql(
                'SELECT pid FROM pg_stat_activity WHERE datname = '
                'current_database() AND pid != pg_backend_pid()')]

    def sample(self):
        return ({pid: cpu_seconds(pid) for pid in self.api},
            {pid: cpu_seconds(pid) for pid in self.backends()})

    def start(self):
        self.before = self.sample()
        self.wall = time.monotonic()

    def reset_lag_probes(self):
        "Start the API workers' --lag-probe windows now (SIGUSR1)"
        reset_lag_probes(self.platform.process.pid)

    def stop(self):
        after = self.sample()
        self.wall = time.monotonic() - self.wall
        # a backend opened during the run counts whole
        return tuple(sum(now - before.get(pid, 0) for pid, now in
                    current.items()) for before, current in zip(
                self.before, after))


# --- the load generator (its own process) ----------------------------------

class Connection:
    def __init__(self, reader, writer, host):
        self.reader, self.writer, self.host = reader, writer, host

    async def post(self, path, body, key):
        data = json.dumps(body).encode()
        self.writer.write(
            b'POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n'
            b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n'
            % (path.encode(), self.host.encode(), key.encode(), len(data))
            + data)
        head = await self.reader.readuntil(b'\r\n\r\n')
        status = int(head[9:12])
        length = 0
        for line in head.split(b'\r\n')[1:]:
            name, _, value = line.partition(b':')
            if name.strip().lower() == b'content-length':
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b''
        return status, payload


async def generate(url, key, rate, seconds, connections, users, hold):
    host, port = url.split('//', 1)[1].split(':')
    pool = asyncio.Queue()
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(host, int(port))
        pool.put_nowait(Connection(reader, writer, host))
    loop = asyncio.get_running_loop()
    latencies, end_latencies = [], []
    statuses, decisions = Counter(), Counter()
    errors = Counter()
    pending = set()
    stamp = '%x' % int(time.time() * 1000)

    async def post(path, body):
        connection = await pool.get()
        try:
            return await connection.post(path, body, key)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            errors[type(error).__name__] += 1
            connection.writer.close()
            reader, writer = await asyncio.open_connection(host, int(port))
            connection = Connection(reader, writer, host)
            return None, b''
        finally:
            pool.put_nowait(connection)

    async def end(call_id):
        await asyncio.sleep(hold)
        started = loop.time()
        status, _ = await post('/v1/calls/%s/end' % call_id, {})
        end_latencies.append(loop.time() - started)
        if status != 204:
            errors['end %s' % status] += 1

    async def call(number, due):
        call_id = 'bench-%s-%d' % (stamp, number)
        status, payload = await post('/v1/authorize', {
                'call_id': call_id, 'leg': 'a', 'direction': 'outbound',
                'caller': '442071230000',
                'callee': CALLEES[number % len(CALLEES)],
                'sip_username': users[number % len(users)],
                'source_ip': None, 'sip_domain': None, 'service': 'voice'})
        latencies.append(loop.time() - due)
        statuses[status] += 1
        if status == 200:
            decision = json.loads(payload)
            decisions[decision['decision'] + ':' + decision['reason']] += 1
            if decision['decision'] == 'allow' and hold > 0:
                task = asyncio.ensure_future(end(call_id))
                pending.add(task)
                task.add_done_callback(pending.discard)

    total = int(rate * seconds)
    start = loop.time() + 0.1
    tasks = set()
    sent = 0
    while sent < total:
        now = loop.time()
        due = int((now - start) * rate) + 1
        while sent < min(due, total):
            task = asyncio.ensure_future(call(sent, start + sent / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*list(tasks))
    elapsed = loop.time() - start
    if pending:
        await asyncio.wait(list(pending), timeout=hold + 30)
    return {
        'sent': total, 'elapsed': elapsed,
        'latencies': latencies, 'end_latencies': end_latencies,
        'statuses': {str(k): v for k, v in statuses.items()},
        'decisions': dict(decisions), 'errors': dict(errors),
        }


def generator_main(argv):
    spec = json.loads(argv[0])
    result = asyncio.run(generate(**spec))
    print(json.dumps(result))


def generate_wrk(url, key, rate, seconds, connections, users):
    """The same load from wrk (callcontrol_authorize.lua); the result in
    the Python generator's shape."""
    total = int(rate * seconds)
    start = time.monotonic() + 1.0  # wrk's threads connect meanwhile
    stamp = '%x' % int(time.time() * 1000)
    output = subprocess.run(['wrk', '-t', str(connections),
            '-c', str(connections), '-d', '%ds' % (seconds + 4),
            '--timeout', '10s', '-s', SCRIPT, url, '--',
            str(rate), str(total), '%.6f' % start, key, str(len(users)),
            stamp, str(connections)],
        check=True, capture_output=True, text=True,
        timeout=seconds + 60).stdout
    line = next(line for line in output.splitlines()
        if line.startswith('RESULT '))
    result = json.loads(line[len('RESULT '):])
    errors = {name: count for name, count in result['errors'].items()
        if count}
    if result['answered'] < total:
        errors['unanswered'] = total - result['answered']
    return {
        'sent': total, 'elapsed': result['last'] - start,
        'latencies': result['latencies'], 'end_latencies': [],
        'statuses': result['statuses'], 'decisions': result['decisions'],
        'errors': errors,
        }


# --- the platform ----------------------------------------------------------

ACCOUNTS = """
from decimal import Decimal
Party = pool.get('party.party')
Account = pool.get('telecom.account')
Company = pool.get('company.company')
BalanceLine = pool.get('telecom.balance.line')
owner, = Company.search([('parent', '=', None)])
template, = Account.search([('code', '=', {postpaid!r})])
parties = Party.create([{{'name': 'bench-%d' % i, 'tenant': owner.id}}
        for i in range({count})])
accounts = Account.create([{{
            'party': party.id, 'company': owner.id,
            'currency': template.currency.id,
            'country': template.country.id, 'national_prefix': '0',
            'international_prefix': '00',
            'rate_plans': [('add', [p.id for p in template.rate_plans])],
            'credentials': [('create', [{{
                            'kind': 'sip', 'username': 'bench-%d' % i,
                            'realm': 'sip.example.net',
                            'password': 'bench-secret-%d' % i}}])],
            'billing_mode': 'prepaid' if i % 10 == 0 else 'postpaid',
            'max_total': None if i % 10 == 0 else 1000,
            }} for i, party in enumerate(parties)])
BalanceLine.add_movements([{{
            'account': a.id, 'amount': Decimal('100000'), 'kind': 'topup'}}
        for a in accounts if a.billing_mode == 'prepaid'])
result = len(accounts)
"""


def main():
    if len(sys.argv) > 2 and sys.argv[1] == '--generate':
        return generator_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help='500 authorize/s for 5 s')
    parser.add_argument('--rate', type=int, default=1000)
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--workers', type=int, default=2,
        help='API processes (default 2, the cores of this machine)')
    parser.add_argument('--connections', type=int, default=32)
    parser.add_argument('--accounts', type=int, default=200)
    parser.add_argument('--hold', type=float, default=0,
        help='seconds between a call\'s authorize and its end (python '
        'generator only); 0, the default: no end (authorize alone, as the '
        'goal is stated)')
    parser.add_argument('--generator', choices=['wrk', 'python'],
        default='wrk', help='load generator (default wrk: C, leaves the '
        'cores to the API; python when wrk is missing or with --hold)')
    parser.add_argument('--socket', default='/var/run/postgresql',
        help="PostgreSQL's Unix socket directory, used by the API's hot "
        "path when it exists (else TCP, as trytond)")
    parser.add_argument('--keep', action='store_true',
        help='keep the platform running afterwards (prints its URL/key)')
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds = 500, 5
    if args.generator == 'wrk' and args.hold > 0:
        print('--hold: calls are ended by the python generator only')
        args.generator = 'python'
    if args.generator == 'wrk' and not shutil.which('wrk'):
        print('WARNING: wrk is not installed (apt-get install wrk; .ci/run '
            'installs it): falling back to the python generator, which '
            'takes about one of the cores the API would use')
        args.generator = 'python'

    from tests.e2e.test_callcontrol import Platform, pg_available
    if not pg_available():
        print('PostgreSQL does not answer: skipped')
        return 0
    tmp = Path(tempfile.mkdtemp(prefix='bench-callcontrol-'))
    setup = time.monotonic()
    # --refresh as deployed (the tests' 0.5 s costs the loop a Tryton
    # transaction in a thread twice a second)
    # No rating worker: no CDR is posted here.
    api_args = ['--workers', str(args.workers), '--refresh', '2',
        '--no-rater', '--lag-probe']
    if os.path.exists(os.path.join(args.socket, '.s.PGSQL.5432')):
        # the hot path through PostgreSQL's Unix socket
        api_args += ['--store-uri',
            'postgresql://postgres@/{database}?host=' + args.socket]
    platform = Platform('postgresql', tmp, api_args=api_args)
    try:
        created = platform.tryton(ACCOUNTS.format(
                postpaid=platform.keys['postpaid'], count=args.accounts))
        # the snapshots see the new accounts within --refresh (0.5 s)
        time.sleep(2)
        print('platform ready in %.0f s: PostgreSQL, %d workers, %d bench '
            'accounts; load %.2f %.2f %.2f' % (
                time.monotonic() - setup, args.workers, created,
                *os.getloadavg()))
        users = ['bench-%d' % i for i in range(args.accounts)]
        # warm-up: every worker's caches, PostgreSQL's plans
        warm = dict(url=platform.url, key=platform.keys['owner_key'],
            rate=200, seconds=2, connections=args.connections,
            users=users, hold=0.5)
        subprocess.run([sys.executable, __file__, '--generate',
                json.dumps(warm)], check=True, capture_output=True)
        spec = dict(url=platform.url, key=platform.keys['owner_key'],
            rate=args.rate, seconds=args.seconds,
            connections=args.connections, users=users, hold=args.hold)
        print('generator: %s; load before %.2f %.2f %.2f' % (
                args.generator, *os.getloadavg()))
        meter = CpuMeter(platform)
        meter.start()
        # the workers' lag probes count from here (not the set-up's builds)
        meter.reset_lag_probes()
        if args.generator == 'wrk':
            del spec['hold']
            result = generate_wrk(**spec)
        else:
            result = json.loads(subprocess.run(
                    [sys.executable, __file__, '--generate',
                        json.dumps(spec)],
                    check=True, capture_output=True, text=True,
                    timeout=args.seconds + args.hold + 120).stdout)
        api_cpu, pg_cpu = meter.stop()
        load = os.getloadavg()
        latencies = [x * 1000 for x in result['latencies']]
        ends = [x * 1000 for x in result['end_latencies']]
        ok = result['statuses'].get('200', 0)
        achieved = ok / result['elapsed']
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print('authorize: %d sent at %d/s over %.1f s: %d answered 200 '
            '(%.0f/s achieved), statuses %s, errors %s' % (
                result['sent'], args.rate, result['elapsed'], ok, achieved,
                result['statuses'], result['errors'] or 'none'))
        print('decisions: %s' % ', '.join('%s %d' % kv for kv in sorted(
                    result['decisions'].items())))
        print('latency ms (from when due): p50 %.2f  p90 %.2f  p99 %.2f  '
            'p99.9 %.2f  max %.2f' % (p50, percentile(latencies, 90), p99,
                percentile(latencies, 99.9), max(latencies)))
        if ends:
            print('end: %d sent, p50 %.2f ms, p99 %.2f ms' % (
                    len(ends), percentile(ends, 50), percentile(ends, 99)))
        answered = sum(result['statuses'].values())
        print('CPU over the run (%.1f s wall): API processes %.1f s, their '
            'PostgreSQL backends %.1f s -> per authorize: API %.3f ms + '
            'PostgreSQL %.3f ms = %.3f ms' % (meter.wall, api_cpu, pg_cpu,
                api_cpu / answered * 1000, pg_cpu / answered * 1000,
                (api_cpu + pg_cpu) / answered * 1000))
        left = platform.sql('SELECT COUNT(*) FROM telecom_live_call '
            "WHERE state != 'ended'")[0][0]
        print('calls holding a slot at the end: %d%s; load average after: '
            '%.2f %.2f %.2f' % (left, '' if args.hold > 0 else
                ' (--hold 0: none was ended)', *load))
        goal = (achieved >= 0.99 * args.rate and p99 <= 10
            and not result['errors'] and ok == result['sent'])
        print('RESULT', 'ok' if goal else 'BELOW GOAL',
            '(goal: >= %d/s with p99 <= 10 ms, no error)' % args.rate)
        if args.keep:
            print('API', platform.url, 'key', platform.keys['owner_key'])
            input('press Enter to stop')
    finally:
        platform.stop()
        # each API worker logs its event loop's lateness when it stops
        with open(platform.log_path) as log:
            for line in log:
                if 'loop lag' in line:
                    print('worker', line.split(' INFO ', 1)[-1].strip())
    return 0


if __name__ == '__main__':
    sys.exit(main())
