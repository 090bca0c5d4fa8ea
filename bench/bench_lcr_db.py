"""Benchmark of telecom_lcr's database work on PostgreSQL.

Creates a fresh database (dropped at the end), activates telecom_lcr with
trytond-admin, then times:

- the import of a carrier deck of 1,000,000 rates from CSV (reading,
  validation by the rating engine's reader, the database checks and the
  bulk write), as ``telecom import-carrier-rates`` does it;
- the refresh of the quality statistics over 10,000,000 CDRs spread over
  the last 7 days (20 carriers, 300 destination groups of 3,000 prefixes
  of 3 to 6 digits), the CDRs made in SQL with generate_series.

Usage: python bench/bench_lcr_db.py [--quick] [--uri postgresql://…/]
       [--cdrs N] [--rates N] [--keep]
"""
import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time

DEFAULT_URI = os.environ.get(
    'BENCH_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
CARRIERS = 20
GROUPS = 300
PREFIXES = 3000
COUNTRIES = ['1', '7', '20', '27', '31', '32', '33', '34', '39', '41',
    '43', '44', '45', '46', '47', '48', '49', '351', '353', '358']


def connect(uri, database='postgres'):
    import psycopg
    connection = psycopg.connect(uri + database, autocommit=True)
    return connection


def create_database(uri, name):
    "A fresh database with telecom_lcr activated"
    with connect(uri) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    folder = tempfile.mkdtemp(prefix='bench-lcr-')
    passfile = os.path.join(folder, 'password')
    with open(passfile, 'w') as file:
        file.write('admin-bench-Passw0rd')
    env = {**os.environ, 'TRYTOND_DATABASE__URI': uri,
        'TRYTONPASSFILE': passfile}
    for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(key, None)
    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    started = time.perf_counter()
    subprocess.run([admin, '-d', name, '--all', '-u', 'telecom_lcr',
            '--activate-dependencies', '--email', 'admin@example.net'],
        env=env, check=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.remove(passfile)
    os.rmdir(folder)
    return time.perf_counter() - started


def drop_database(uri, name):
    with connect(uri) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_tenancy(pool):
    "The owner, an account to put CDRs on, carriers and destination groups"
    from trytond.modules.company.tests import create_company
    from trytond.modules.currency.tests import (
        add_currency_rate, create_currency)
    pool_get = pool.get
    Carrier = pool_get('telecom.carrier')
    Party = pool_get('party.party')
    Account = pool_get('telecom.account')
    Group = pool_get('telecom.destination.group')
    currency = create_currency('EUR')
    add_currency_rate(currency, 1)
    owner = create_company("Owner", currency)
    party, = Party.create([{'name': "Bench Customer"}])
    account, = Account.create([{
                'party': party.id, 'company': owner.id,
                'currency': currency.id}])
    carriers = Carrier.create([{
                'name': f"Carrier {n}", 'code': f'c{n:02d}',
                'company': owner.id, 'currency': currency.id,
                'gateways': [('create', [{'address': f'gw{n}.example'}])]}
            for n in range(CARRIERS)])
    generator = random.Random(7)
    prefixes = set()
    while len(prefixes) < PREFIXES:
        country = generator.choice(COUNTRIES)
        digits = generator.randint(1, 4)
        prefixes.add(country + str(generator.randrange(10 ** digits)).zfill(
                digits))
    prefixes = sorted(prefixes)
    per_group = len(prefixes) // GROUPS
    Group.create([{
                'code': f'g{n:03d}', 'name': f"Group {n}",
                'prefixes': [('create', [{'prefix': p} for p in
                            prefixes[n * per_group:(n + 1) * per_group]])]}
            for n in range(GROUPS)])
    return owner, account, carriers


def make_cdrs(cursor, account, company, count, now):
    """``count`` CDRs over the 7 days before ``now``: 20 carriers whose ASR
    goes from 40 % to 78 %, called numbers under 20 country codes, 80 %
    with a PDD."""
    countries = 'ARRAY[' + ','.join(f"'{c}'" for c in COUNTRIES) + ']'
    # Setting up, not measured: indexes are built once after the rows,
    # which is many times faster than maintaining them row by row.
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid = 'telecom_cdr'::regclass "
        "AND contype = 'u'")
    constraints = cursor.fetchall()
    for constraint, _ in constraints:
        cursor.execute(
            f'ALTER TABLE telecom_cdr DROP CONSTRAINT "{constraint}"')
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes "
        "WHERE tablename = 'telecom_cdr' AND indexname != 'telecom_cdr_pkey'")
    indexes = cursor.fetchall()
    for index, _ in indexes:
        cursor.execute(f'DROP INDEX "{index}"')
    cursor.execute(f"""
        INSERT INTO telecom_cdr (
            switch, call_id, leg, account, company, caller, callee,
            direction, service, start, duration, disposition, carrier,
            pdd_ms, state, rating_version, create_uid, create_date)
        SELECT 'bench', 'c' || g, 'a', %s, %s, '442071230000',
            ({countries})[1 + (g * 7) %% {len(COUNTRIES)}]
                || lpad(((g::bigint * 7919) %% 1000000000)::text, 9, '0'),
            'outbound', 'voice',
            %s - (g %% 604800) * interval '1 second',
            CASE WHEN (g * 13) %% 100 < 40 + 2 * (g %% {CARRIERS})
                THEN 1 + (g * 31) %% 600 ELSE 0 END,
            CASE WHEN (g * 13) %% 100 < 40 + 2 * (g %% {CARRIERS})
                THEN 'ANSWERED' ELSE 'NO ANSWER' END,
            'c' || lpad((g %% {CARRIERS})::text, 2, '0'),
            CASE WHEN g %% 5 = 0 THEN NULL ELSE 800 + (g * 17) %% 4000 END,
            'rated', 1, 0, now()
        FROM generate_series(1, %s) AS g""",
        (account.id, company.id, now, count))
    for _, definition in indexes:
        cursor.execute(definition)
    for constraint, definition in constraints:
        cursor.execute(f'ALTER TABLE telecom_cdr ADD CONSTRAINT '
            f'"{constraint}" {definition}')


def deck_csv(rows):
    "A carrier deck of ``rows`` distinct prefixes as CSV bytes"
    generator = random.Random(11)
    lines = ['prefix,destination,rate,connect_fee,increment_first,'
        'increment_next']
    seen = set()
    while len(seen) < rows:
        prefix = generator.choice(COUNTRIES) + str(
            generator.randrange(10 ** 7)).zfill(generator.randint(3, 7))
        if prefix in seen:
            continue
        seen.add(prefix)
        lines.append(f'{prefix},Dest {len(seen)},'
            f'0.{generator.randrange(1, 99999):05d},0,60,60')
    return ('\n'.join(lines) + '\n').encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="100,000 rates and 1,000,000 CDRs")
    parser.add_argument('--uri', default=DEFAULT_URI)
    parser.add_argument('--cdrs', type=int)
    parser.add_argument('--rates', type=int)
    parser.add_argument('--only', choices=['import', 'quality'],
        help="run one of the two benchmarks")
    parser.add_argument('--keep', action='store_true',
        help="keep the database")
    args = parser.parse_args()
    cdrs = args.cdrs or (1_000_000 if args.quick else 10_000_000)
    rates = args.rates or (100_000 if args.quick else 1_000_000)
    try:
        connect(args.uri).close()
    except Exception as exception:
        print(f"PostgreSQL does not answer at {args.uri} ({exception}): "
            "benchmark skipped")
        return 0

    name = f'bench_lcr_{os.getpid()}'
    print(f"database {name}: activating telecom_lcr…", flush=True)
    seconds = create_database(args.uri, name)
    print(f"  activated in {seconds:.1f} s")
    from trytond import config
    config.set('database', 'uri', args.uri)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    try:
        pool = Pool(name)
        pool.init()
        with Transaction().start(name, 0, context={'company': None}) as (
                transaction):
            owner, account, carriers = setup_tenancy(pool)
            transaction.commit()

        if args.only != 'quality':
            bench_import(pool, name, carriers[0], rates)
        if args.only != 'import':
            bench_quality(pool, name, args.uri, owner, account, cdrs)
    finally:
        from trytond import backend
        backend.Database(name).close()
        if not args.keep:
            drop_database(args.uri, name)
    return 0


def bench_import(pool, name, carrier, rates):
    "Import a deck of ``rates`` rates into ``carrier``, as the command does"
    from trytond.transaction import Transaction
    print(f"carrier deck of {rates:,} rates:", flush=True)
    data = deck_csv(rates)
    print(f"  CSV {len(data) / 1e6:.1f} MB")
    with Transaction().start(name, 0) as transaction:
        Carrier = pool.get('telecom.carrier')
        carrier = Carrier(carrier.id)
        started = time.perf_counter()
        imported, removed = carrier.import_rates(
            data, 'deck.csv', replace=True)
        transaction.commit()
        seconds = time.perf_counter() - started
    print(f"  import-carrier-rates {imported:,} rates: {seconds:.1f} s "
        f"({imported / seconds:,.0f} rates/s; goal ≤ 60 s for "
        "1,000,000)")


def bench_quality(pool, name, uri, owner, account, cdrs):
    "Make ``cdrs`` CDRs in SQL, then refresh the quality statistics"
    from trytond.transaction import Transaction
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    print(f"quality statistics over {cdrs:,} CDRs:", flush=True)
    with Transaction().start(name, 0) as transaction:
        cursor = transaction.connection.cursor()
        started = time.perf_counter()
        make_cdrs(cursor, account, owner, cdrs, now)
        transaction.commit()
        print(f"  generated in SQL in "
            f"{time.perf_counter() - started:.1f} s")
    with connect(uri, name) as connection:
        connection.execute('VACUUM ANALYZE telecom_cdr')
    with Transaction().start(name, 0) as transaction:
        Quality = pool.get('telecom.carrier.quality')
        started = time.perf_counter()
        written = Quality.refresh(now=now)
        transaction.commit()
        seconds = time.perf_counter() - started
    print(f"  refresh: {written:,} statistics in {seconds:.1f} s "
        f"({cdrs / seconds:,.0f} CDRs/s; goal ≤ 30 s for 10,000,000)")
    with Transaction().start(name, 0, readonly=True):
        from trytond.modules.telecom_lcr.quality import load_quality
        started = time.perf_counter()
        stats = load_quality('7d')
        print(f"  load_quality: {len(stats):,} keys in "
            f"{(time.perf_counter() - started) * 1000:.0f} ms")
        overall = sorted((s.asr, c) for (c, g), s in stats.items()
            if g is None)
        print(f"  ASR over 7 days from {overall[0][0]} % to "
            f"{overall[-1][0]} %")


if __name__ == '__main__':
    sys.exit(main())
