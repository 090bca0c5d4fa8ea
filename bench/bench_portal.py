"""Benchmark of the portal's pages with 1,000,000 CDRs; prints its figures.

On a fresh PostgreSQL database (created, then dropped) of TEST_DATABASE_URI
(default postgresql://postgres@127.0.0.1:5432/) with telecom_portal
activated:

1. The tests' tenancy and plans (telecom_base's ``create_tenancy``,
   telecom_rating's ``create_rating``) plus 20 customers of Reseller One.
2. 1,000,000 CDRs written with COPY (the CDR generator of
   bench_rating_db.py, spread over the last 365 days): half on one busy PBX
   customer (about 1,370 calls a day), the rest over the 20 others; one
   current charge per CDR at the customer's level (INSERT … SELECT), then
   VACUUM ANALYZE.
3. Each page requested through the WSGI application in this process
   (werkzeug's test client: no network), signed in as the busy customer or
   its reseller; the time is the server's, from request to response body.
   Each page is asked REPEAT times after one warm-up; median and worst are
   printed, with the 300 ms goal.

Usage: python bench/bench_portal.py [--quick] [--keep] [--reuse DATABASE]
"""
import argparse
import datetime as dt
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rating_db import synthetic_cdrs  # noqa: E402

QUICK = dict(cdrs=20_000, customers=5)
FULL = dict(cdrs=1_000_000, customers=20)
REPEAT = 15
GOAL_MS = 300
BASE = 'https://portal.bench'
PASSWORD = 'Bench-Passw0rd-2026'


def seed(cdrs, busy, others, company_of, today):
    """COPY ``cdrs`` CDRs: half on ``busy``, the rest spread on ``others``,
    over the 365 days before ``today``; then one charge each."""
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    columns = ['switch', 'call_id', 'leg', 'account', 'company', 'caller',
        'callee', 'direction', 'service', 'start', '"end"', 'answer',
        'duration', 'disposition', 'state', 'rating_version',
        'create_uid', 'create_date']
    first = dt.datetime.combine(today, dt.time()) - dt.timedelta(days=365)
    now = dt.datetime.now()
    accounts = [busy] * len(others) + others
    with cursor.copy(
            f'COPY telecom_cdr ({", ".join(columns)}) FROM STDIN') as copy:
        for rows in synthetic_cdrs(cdrs, accounts, ['4420', '447', '331']):
            for row in rows:
                # The generator spreads calls over one month: spread them
                # over the year instead, same seconds of the day.
                offset = (row['start'].timestamp() * 7919) % (365 * 86400)
                start = first + dt.timedelta(seconds=int(offset))
                account = row['account']
                copy.write_row([row['switch'], row['call_id'], 'a',
                        account, company_of[account], row['caller'],
                        row['callee'], 'outbound', 'voice', start,
                        start + dt.timedelta(seconds=row['duration']),
                        start, row['duration'],
                        'ANSWERED' if row['duration'] else 'NO ANSWER',
                        'rated', 1, 0, now])
    cursor.execute("""
        INSERT INTO telecom_cdr_charge (cdr, version, current, level,
            seller, account, plan, prefix, destination, charged_seconds,
            bundle_seconds, amount, currency, create_uid, create_date)
        SELECT c.id, 1, true, 1, c.company, c.account, %s, '44', 'UK',
            c.duration, 0, ROUND(c.duration * 0.022 / 60, 4), %s, 0, now()
        FROM telecom_cdr c""", (company_of['plan'], company_of['currency']))


def prepare(database, sizes, today):
    """Activate telecom_portal in a new database, build the tenancy and
    seed the CDRs; return the busy customer's account id."""
    from trytond.modules.telecom_base.tests.tools import (
        create_customer, create_tenancy)
    from trytond.modules.telecom_rating.tests.tools import create_rating
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module
    from trytond.transaction import Transaction
    start = time.perf_counter()
    activate_module(['telecom_portal'])
    print(f"activate telecom_portal: {time.perf_counter() - start:.1f} s")
    pool = Pool(database)
    with Transaction().start(database, 0) as transaction:
        WebUser = pool.get('web.user')
        t = create_tenancy()
        create_rating(t)
        others = [create_customer(f"Customer {i}", t.r1)
            for i in range(sizes['customers'])]
        busy = t.r1_customer
        WebUser.create([
                {'email': 'busy@bench.example', 'password': PASSWORD,
                    'email_valid': True, 'telecom_account': busy.id},
                {'email': 'reseller@bench.example', 'password': PASSWORD,
                    'email_valid': True, 'reseller': t.r1.id}])
        company_of = {a.id: a.company.id for a in [busy] + others}
        company_of['plan'] = t.r1_plan.id
        company_of['currency'] = t.currency.id
        start = time.perf_counter()
        seed(sizes['cdrs'], busy.id, [a.id for a in others], company_of,
            today)
        transaction.commit()
        busy_id = busy.id
    # As autovacuum would: the visibility map lets the usage chart read
    # its index only. VACUUM cannot run in a transaction.
    import psycopg
    uri = os.environ['TRYTOND_DATABASE_URI']
    with psycopg.connect(uri + database, autocommit=True) as connection:
        connection.execute('VACUUM ANALYZE telecom_cdr')
        connection.execute('VACUUM ANALYZE telecom_cdr_charge')
    print(f"seed {sizes['cdrs']:,} CDRs and their charges (COPY, "
        f"INSERT … SELECT, VACUUM ANALYZE): "
        f"{time.perf_counter() - start:.1f} s")
    return busy_id


def timed(client, path):
    times = []
    response = client.get(path, base_url=BASE)
    assert response.status_code == 200, (path, response.status_code)
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(path, base_url=BASE)
        response.get_data()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times), max(times), response


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="20,000 CDRs, to check the script works")
    parser.add_argument('--keep', action='store_true',
        help="keep the database (its name is printed)")
    parser.add_argument('--reuse', metavar='DATABASE',
        help="time the pages on a database kept by --keep (no seeding)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = args.reuse or f'bench_portal_{os.getpid()}'
    os.environ['TRYTOND_DATABASE_URI'] = uri
    os.environ['DB_NAME'] = database
    os.environ.pop('DB_CACHE', None)
    from werkzeug.test import Client

    from trytond import backend
    from trytond.modules.telecom_portal.web.app import Portal
    from trytond.pool import Pool
    from trytond.tests.test_tryton import drop_db
    from trytond.transaction import Transaction
    assert backend.name == 'postgresql', "a postgresql:// URI is needed"

    print(f"Python {sys.version.split()[0]}, PostgreSQL at {uri}, "
        f"database {database}, {os.cpu_count()} CPUs")
    today = dt.date.today()
    if args.reuse:
        Pool(database).init()
        with Transaction().start(database, 0, readonly=True):
            WebUser = Pool(database).get('web.user')
            busy_id, = [u.telecom_account.id for u in WebUser.search(
                    [('email', '=', 'busy@bench.example')])]
    else:
        busy_id = prepare(database, sizes, today)
    try:
        portal = Portal(database)
        customer, reseller = Client(portal), Client(portal)
        for client, email in [(customer, 'busy@bench.example'),
                (reseller, 'reseller@bench.example')]:
            page = client.get('/login', base_url=BASE).get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            response = client.post('/login', base_url=BASE, data={
                    'email': email, 'password': PASSWORD,
                    'csrf_token': token.group(1)})
            assert response.status_code == 303, response.status_code

        # A cursor deep in the history: the 250,000th newest call.
        with Transaction().start(database, 0, readonly=True):
            cursor = Transaction().connection.cursor()
            cursor.execute('SELECT start, id FROM telecom_cdr WHERE '
                'account = %s ORDER BY start DESC, id DESC OFFSET %s '
                'LIMIT 1', (busy_id, sizes['cdrs'] // 4))
            deep_start, deep_id = cursor.fetchone()
            cursor.execute(
                'SELECT count(*) FROM telecom_cdr WHERE account = %s',
                (busy_id,))
            busy_calls, = cursor.fetchone()
        deep = f'{deep_start.isoformat()}_{deep_id}'
        week = today - dt.timedelta(days=7)
        pages = [
            (customer, '/account'),
            (customer, '/calls'),
            (customer, f'/calls?after={deep}'),
            (customer, f'/calls?start={week}&end={today}'),
            (customer, '/calls?number=447'),
            (customer, '/calls?number=2071230000'),
            (customer, f'/calls.csv?start={today - dt.timedelta(days=1)}'
                f'&end={today}'),
            (customer, '/invoices'),
            (customer, '/sip-addresses'),
            (customer, '/profile'),
            (reseller, '/reseller/customers'),
            (reseller, f'/reseller/customers/{busy_id}/calls'),
            (reseller, '/reseller/plans'),
            (reseller, '/reseller/invoices'),
            ]
        print(f"the busy customer holds {busy_calls:,} of the "
            f"{sizes['cdrs']:,} CDRs; {REPEAT} requests per page after a "
            "warm-up, server time in ms")
        print(f"{'page':<58} {'median':>7} {'worst':>7}")
        over = []
        for client, path in pages:
            median, worst, _ = timed(client, path)
            shown = path.replace(deep, 'DEEP')
            print(f"{shown:<58} {median:7.1f} {worst:7.1f}")
            if median > GOAL_MS:
                over.append(shown)
        print(f"goal {GOAL_MS} ms (median): "
            + ("met by every page" if not over
                else f"missed by {', '.join(over)}"))
    finally:
        if args.keep or args.reuse:
            print(f"kept database {database}")
        else:
            drop_db()


if __name__ == '__main__':
    main()
