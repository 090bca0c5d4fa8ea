"""Benchmark of rating into PostgreSQL, end to end; prints its figures.

On a fresh database (created, then dropped) of TEST_DATABASE_URI (default
postgresql://postgres@127.0.0.1:5432/) with telecom_rating activated:

1. A 3-level chain as the tests build it: the owner's plan sold to Reseller
   One, Reseller One's plan (inherits, markups on 20 destination groups,
   1,000 own prefixes) sold to Sub Reseller Two, whose plan (inherits,
   10,000 own prefixes, a bundle) its 200 customers pay. Every own prefix
   has a peak and an off-peak rate (each tenant's bands, Europe/London).
   The owner's 100,000 prefixes × 2 bands are loaded with
   ``RatePlan.import_rates`` from a generated CSV (timed).
2. 1,000,000 synthetic CDRs ingested with ``Cdr.ingest`` (timed).
3. ``Cdr.rate_unrated`` — read unrated → rate at 3 levels → write 3
   charges per CDR and the CDRs' states — then commit (timed; the tariff
   is compiled first and timed apart, as a worker keeps it).
4. A bare ``COPY`` of the same charge rows into a scratch table with the
   charges' columns and indexes, the rows formatted as COPY text before
   the timing (timed: the COPY and its commit); the ratio is COPY time /
   rating time (1 = rating costs no more than writing).
5. A 1,000,000-row CSV deck imported into a new plan (timed, commit
   included; generating the CSV is not).

Usage: [BENCH_DB_NAME=name] python bench/bench_rating_db.py [--quick] [--keep]
       [--cdrs N]
"""
import argparse
import datetime as dt
import os
import random
import sys
import time

QUICK = dict(prefixes=10_000, cdrs=20_000, deck=20_000, customers=20)
FULL = dict(prefixes=100_000, cdrs=1_000_000, deck=1_000_000, customers=200)
GROUPS = 20
# Billing increments of a deck's rows, mixed as in operators' decks.
INCREMENTS = ((60, 60), (60, 60), (30, 6), (30, 6), (1, 1))


def prefixes(count, seed):
    "``count`` distinct prefixes of 3 to 9 digits, as real decks spread."
    generator = random.Random(seed)
    found = set()
    while len(found) < count:
        length = generator.choice((3, 4, 5, 5, 6, 6, 6, 7, 7, 8, 9))
        found.add(str(generator.randrange(10 ** (length - 1), 10 ** length)))
    return sorted(found)


def banded_deck(prefixes, seed):
    """A deck CSV (bytes) with a peak and an off-peak rate per prefix,
    increments 60/60, 30/6 and 1/1 mixed, and a fifth of the prefixes
    dated: the current price since January, a new one from 20 March."""
    generator = random.Random(seed)
    lines = ["prefix,destination,rate,increment_first,increment_next,"
        "time_band,valid_from,valid_to"]
    for prefix in prefixes:
        price = generator.randrange(1000, 500000)
        first, next_ = generator.choice(INCREMENTS)
        dates = [('', '')]
        if generator.random() < 0.2:
            dates = [('2026-01-01', '2026-03-20'), ('2026-03-20', '')]
        for n, (since, until) in enumerate(dates):
            value = price + 700 * n
            lines.append(f"{prefix},Destination {prefix[:3]},"
                f"{value / 1e6:.6f},{first},{next_},peak,{since},{until}")
            lines.append(f"{prefix},Destination {prefix[:3]},"
                f"{value // 2 / 1e6:.6f},{first},{next_},offpeak,{since},"
                f"{until}")
    return ('\n'.join(lines) + '\n').encode()


def plain_deck(count, seed):
    "A deck CSV (bytes) of ``count`` prefixes, every column filled"
    generator = random.Random(seed)
    lines = ["prefix,destination,rate,connect_fee,min_duration,"
        "increment_first,increment_next,valid_from,valid_to,priority,"
        "time_band"]
    for prefix in prefixes(count, seed):
        lines.append(f"{prefix},Destination {prefix[:3]},"
            f"{generator.randrange(1000, 500000) / 1e6:.6f},0.01,0,60,60,"
            "2026-01-01,,0,")
    return ('\n'.join(lines) + '\n').encode()


def create_bands(company):
    from trytond.pool import Pool
    Band = Pool().get('telecom.time_band')
    Band.create([{
                'name': 'peak', 'company': company.id,
                'timezone': 'Europe/London',
                'windows': [('create', [{'days': 'mon-fri',
                                'start': dt.time(8), 'end': dt.time(19)}])]},
            {
                'name': 'offpeak', 'company': company.id,
                'timezone': 'Europe/London',
                'windows': [('create', [
                            {'days': 'mon-fri', 'start': dt.time(19),
                                'end': dt.time(8)},
                            {'days': 'mon', 'start': dt.time(0),
                                'end': dt.time(8)},
                            {'days': 'sat,sun', 'start': dt.time(0)}])]}])


def build_chain(sizes):
    """The tenancy, plans and customers; return (customers, owner's
    prefixes, seconds to import the owner's deck)."""
    from decimal import Decimal

    from trytond.modules.telecom_base.tests.tools import (
        create_customer, create_tenancy)
    from trytond.modules.telecom_rating.tests.tools import create_rating
    from trytond.pool import Pool
    pool = Pool()
    Group = pool.get('telecom.destination.group')
    Markup = pool.get('telecom.rate.plan.markup')
    Bundle = pool.get('telecom.bundle')
    Account = pool.get('telecom.account')

    t = create_rating(create_tenancy())
    for tenant in (t.owner, t.r1, t.r2):
        create_bands(tenant)
    owner_prefixes = prefixes(sizes['prefixes'], 2)
    generator = random.Random(3)
    group_prefixes = {f'g{i}': [] for i in range(GROUPS)}
    for prefix in owner_prefixes[::50]:
        if not prefix.startswith('447'):
            group_prefixes[f'g{generator.randrange(GROUPS)}'].append(prefix)
    groups = Group.create([{
                'code': code, 'name': code,
                'prefixes': [('create', [{'prefix': p} for p in digits])]}
            for code, digits in group_prefixes.items()])
    Markup.create([{
                'plan': t.r1_plan.id, 'group': g.id,
                'percent': Decimal(i), 'per_minute': Decimal('0.001')}
            for i, g in enumerate(groups)])
    Bundle.create([{
                'plan': t.r2_plan.id, 'name': "100 minutes",
                'minutes': 100,
                'groups': [('add', [g.id for g in groups[1:4]])]}])

    start = time.perf_counter()
    t.owner_plan.import_rates(
        banded_deck(owner_prefixes, 4), 'owner.csv', replace=True)
    imported = time.perf_counter() - start
    t.r1_plan.import_rates(banded_deck(
            generator.sample(owner_prefixes, len(owner_prefixes) // 100), 5),
        'r1.csv', replace=True)
    t.r2_plan.import_rates(banded_deck(
            generator.sample(owner_prefixes, len(owner_prefixes) // 10), 6),
        'r2.csv', replace=True)

    customers = [t.r2_customer] + [
        create_customer(f"Customer {i}", t.r2)
        for i in range(sizes['customers'] - 1)]
    Account.write(customers[1:], {
            'rate_plans': [('add', [t.r2_plan.id])]})
    return [c.id for c in customers], owner_prefixes, imported


def synthetic_cdrs(count, accounts, owner_prefixes, seed=7, chunk=100_000):
    "Yield lists of CDR dicts for Cdr.ingest"
    generator = random.Random(seed)
    month = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(count):
        prefix = generator.choice(owner_prefixes)
        duration = 0 if i % 10 == 0 else int(generator.expovariate(1 / 150))
        rows.append({
                'switch': 'bench', 'call_id': f'call-{i}', 'leg': 'a',
                'account': generator.choice(accounts),
                'caller': '442071230000',
                'callee': prefix + str(generator.randrange(10 ** 6, 10 ** 7)),
                'start': month + dt.timedelta(
                    seconds=generator.randrange(31 * 86400)),
                'duration': duration})
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


def copy_baseline(cursor):
    """A bare COPY of this run's charge rows into a scratch table with the
    charges' columns and indexes; return (rows, seconds). The rows are
    read and formatted as COPY text first, untimed: only the COPY and its
    commit are timed."""
    columns = ['id', 'cdr', 'version', 'current', 'level', 'seller',
        'account', 'buyer', 'plan', 'prefix', 'destination', 'charged_seconds',
        'bundle_seconds', 'amount', 'currency', 'create_uid',
        'create_date']
    names = ', '.join(f'"{c}"' for c in columns)
    cursor.execute(f'SELECT {names} FROM telecom_cdr_charge')
    rows = cursor.fetchall()
    cursor.execute('CREATE TABLE bench_scratch '
        '(LIKE telecom_cdr_charge INCLUDING DEFAULTS INCLUDING INDEXES)')
    cursor.connection.commit()

    def text(value):
        if value is None:
            return '\\N'
        if value is True:
            return 't'
        if value is False:
            return 'f'
        return str(value).replace('\\', '\\\\').replace(
            '\t', '\\t').replace('\n', '\\n')
    data = ''.join('\t'.join(map(text, row)) + '\n' for row in rows)
    start = time.perf_counter()
    with cursor.copy(f'COPY bench_scratch ({names}) FROM STDIN') as copy:
        copy.write(data)
    cursor.connection.commit()
    return len(rows), time.perf_counter() - start


def server_cpu(cursor):
    """CPU seconds the PostgreSQL backend of ``cursor`` has used (it runs
    on this machine), or None when /proc does not show it."""
    cursor.execute('SELECT pg_backend_pid()')
    pid, = cursor.fetchone()
    try:
        with open(f'/proc/{pid}/stat') as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def profiled(profile, function, *args):
    if not profile:
        return function(*args)
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    result = profiler.runcall(function, *args)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats(
        'cumulative').print_stats(30)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="small sizes, to check the script works")
    parser.add_argument('--profile', action='store_true',
        help="print where rating and the deck import spend their time")
    parser.add_argument('--keep', action='store_true',
        help="keep the database (its name is printed)")
    parser.add_argument('--cdrs', type=int,
        help="the number of CDRs (default 20,000 quick, 1,000,000 full)")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.cdrs:
        sizes['cdrs'] = args.cdrs

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = os.environ.get(
        'BENCH_DB_NAME', f'bench_rating_{os.getpid()}')
    os.environ['TRYTOND_DATABASE_URI'] = uri
    os.environ['DB_NAME'] = database
    os.environ.pop('DB_CACHE', None)
    from trytond import backend
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.transaction import Transaction
    assert backend.name == 'postgresql', "a postgresql:// URI is needed"

    print(f"Python {sys.version.split()[0]}, PostgreSQL at {uri}, "
        f"database {database}, {os.cpu_count()} CPUs")
    start = time.perf_counter()
    activate_module(['telecom_rating'])
    print(f"activate telecom_rating: {time.perf_counter() - start:.1f} s")
    pool = Pool(database)
    try:
        with Transaction().start(database, 0) as transaction:
            accounts, owner_prefixes, imported = build_chain(sizes)
            transaction.commit()
        print(f"import owner deck {2 * sizes['prefixes']:,} rows "
            f"({sizes['prefixes']:,} prefixes × 2 bands): {imported:.2f} s")

        with Transaction().start(database, 0) as transaction:
            Cdr = pool.get('telecom.cdr')
            ingested = 0.0
            for rows in synthetic_cdrs(
                    sizes['cdrs'], accounts, owner_prefixes):
                start = time.perf_counter()
                Cdr.ingest(rows)
                ingested += time.perf_counter() - start
            start = time.perf_counter()
            transaction.commit()
            ingested += time.perf_counter() - start
        print(f"ingest {sizes['cdrs']:,} CDRs: {ingested:.2f} s, "
            f"{sizes['cdrs'] / ingested:,.0f} CDRs/s")

        with Transaction().start(database, 0) as transaction:
            from trytond.modules.telecom_rating.tariff import load_tariff
            start = time.perf_counter()
            load_tariff()
            print(f"compile the database's tariff: "
                f"{time.perf_counter() - start:.2f} s")
            cursor = transaction.connection.cursor()
            served = server_cpu(cursor)
            cpu, start = time.process_time(), time.perf_counter()
            rated, unrated = profiled(args.profile, Cdr.rate_unrated)
            transaction.commit()
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            served = server_cpu(cursor) - served if served is not None else 0
        print(f"rate_unrated {sizes['cdrs']:,} CDRs × 3 levels, commit "
            f"included: {seconds:.2f} s, {sizes['cdrs'] / seconds:,.0f} "
            f"CDRs/s (CPU: this process {cpu:.2f} s, its PostgreSQL "
            f"backend {served:.2f} s; "
            f"{rated:,} rated, {unrated:,} unrated; load "
            f"{os.getloadavg()[0]:.1f})")

        with Transaction().start(database, 0) as transaction:
            cursor = transaction.connection.cursor()
            rows, copied = copy_baseline(cursor)
        print(f"bare COPY of the same {rows:,} charge rows (formatted "
            f"beforehand) into a table like the charges': {copied:.2f} s, "
            f"{sizes['cdrs'] / copied:,.0f} CDRs/s; ratio COPY / rating "
            f"{copied / seconds:.2f}")

        deck = plain_deck(sizes['deck'], 11)
        with Transaction().start(database, 0) as transaction:
            Plan = pool.get('telecom.rate.plan')
            Company = pool.get('company.company')
            owner, = Company.search([('parent', '=', None)])
            plan, = Plan.create([{
                        'name': "Big deck", 'company': owner.id,
                        'currency': owner.currency.id}])
            start = time.perf_counter()
            profiled(args.profile, plan.import_rates, deck, 'big.csv')
            transaction.commit()
            seconds = time.perf_counter() - start
        print(f"import a {sizes['deck']:,}-row CSV deck "
            f"({len(deck) / 2 ** 20:.0f} MB), commit included: "
            f"{seconds:.2f} s, {sizes['deck'] / seconds:,.0f} rows/s")
    finally:
        if args.keep:
            print(f"kept database {database}")
        else:
            pool.stop(database) if hasattr(pool, 'stop') else None
            drop_db(database)


if __name__ == '__main__':
    main()
