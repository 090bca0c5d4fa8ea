"""PostgreSQL's CPU per admission (``telecom_callcontrol_admit``), alone.

The store's admission (``api/store.py``, as checked out) on one
connection over the Unix socket, against a fresh database of
tests/e2e/callcontrol_fixture.py: 200 accounts (1 in 10 with a credit
limit, the others a total limit of 1,000), ``--rows`` live calls each made
first, then ``--admissions`` admissions round-robin. Prints the backend's
CPU (utime + stime from /proc: the server runs on this machine) and the
client's per admission, and the load average — the figure that load
distorts least, where the 1,000/s benchmark's CPU per authorize moves by
±0.2 ms between runs of the same code on a busy machine.

A/B against another version of the store: check its ``store.py`` out
(``git show main:addons/telecom_switch/api/store.py >
addons/telecom_switch/api/store.py``), run, restore, alternate.

Usage: python bench/bench_admission_db.py [--rows 150] [--admissions 5000]
"""
import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.bench_callcontrol import cpu_seconds  # noqa: E402
from tests.e2e.test_callcontrol import (  # noqa: E402
    CONFIG, PG_URI, pg_available)

ACCOUNTS = 200


async def measure(store, sql, rows, admissions):
    await store.open()

    def request(i, run):
        account = 1 + i % ACCOUNTS
        money = account % 10 == 0
        return sql.Request(1, f'{run}-{i}', 'a', account, 'outbound',
            '442079460000', False,
            sql.Limits(total=None if money else 1000),
            Decimal(100000) if money else None, False,
            lambda seconds: Decimal('0.01') * seconds, Decimal('0.60'),
            14400, 15000)
    try:
        for i in range(rows * ACCOUNTS):
            await store.admit(request(i, 'fill'))
        await store.execute('VACUUM ANALYZE telecom_live_call')
        (pid,), = await store.fetch('SELECT pg_backend_pid()')
        server, client = cpu_seconds(pid), time.process_time()
        wall = time.perf_counter()
        for i in range(admissions):
            assert (await store.admit(request(i, 'run'))).allowed
        return ((cpu_seconds(pid) - server) / admissions,
            (time.process_time() - client) / admissions,
            (time.perf_counter() - wall) / admissions)
    finally:
        await store.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', type=int, default=150,
        help='live calls per account before the run (default 150: the '
        'average of the 60-s authorize benchmark)')
    parser.add_argument('--admissions', type=int, default=5000)
    parser.add_argument('--socket', default='/var/run/postgresql')
    args = parser.parse_args()
    if not pg_available():
        print('PostgreSQL does not answer: skipped')
        return 0
    from trytond.modules.telecom_switch.api import store as sql
    database = f'bench_admission_{uuid.uuid4().hex[:8]}'
    env = {**os.environ, 'TRYTOND_DATABASE__URI': PG_URI,
        'TRYTOND_DATABASE__PATH': tempfile.mkdtemp(prefix='bench-adm-')}
    subprocess.run([sys.executable, '-m', 'tests.e2e.callcontrol_fixture',
            CONFIG, database], env=env, cwd=ROOT, check=True,
        capture_output=True)
    try:
        store = sql.PostgreSQLStore(
            f'postgresql://postgres@/{database}?host={args.socket}', 1, 1)
        server, client, wall = asyncio.run(
            measure(store, sql, args.rows, args.admissions))
    finally:
        subprocess.run(['psql', PG_URI.rstrip('/') + '/postgres', '-qc',
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            capture_output=True)
    print('admission, %d live calls per account before, %d admissions: '
        'PostgreSQL CPU %.0f us, client CPU %.0f us, wall %.0f us; load '
        '%.2f %.2f %.2f' % (args.rows, args.admissions, server * 1e6,
            client * 1e6, wall * 1e6, *os.getloadavg()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
