"""Benchmark of a monthly billing run at scale, on PostgreSQL; prints its
figures.

On a fresh database (created, then dropped) of TEST_DATABASE_URI (default
postgresql://postgres@127.0.0.1:5432/) with telecom_billing activated:

1. The 3-level chain the tests build (owner → Reseller One → Sub Reseller
   Two, ``create_tenancy`` + ``create_rating``). Reseller One is the tenant
   billed: its chart of accounts with VAT 20 % and a fixed 0.50 fee per
   extra line, a feature price on its plan (1 line included, 4.95 each
   extra) and 10,000 postpaid customers, each with 2 lines (every tenth's
   second line from the 12th: a pro-rated line) and a monthly 10.00
   charge — made through the ORM (timed as "accounts").
2. 5,000,000 rated calls in March 2026 over those customers: the
   ``telecom_cdr`` rows and two ``telecom_cdr_charge`` rows per call (the
   owner's price to Reseller One's account, level 0; Reseller One's price
   to its customer, level 1; 20 destinations) written with ``COPY``, then
   ``ANALYZE`` (timed as "seeding").
3. ``BillingRun.bill`` of Reseller One for March, commit included (timed):
   its 10,000 draft invoices, with taxes, and its claim of the 5,000,000
   level-1 charges. The figures: invoices, lines, calls/s; the
   invoices' total is checked against the seeded charges.

Usage: python bench/bench_billing.py [--quick] [--profile] [--keep]
       python bench/bench_billing.py [--quick] --seed-only [--database NAME]
       python bench/bench_billing.py [--profile] [--commit] --again DATABASE
"""
import argparse
import datetime as dt
import os
import random
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(__file__))
from bench_rating_db import profiled  # noqa: E402

QUICK = dict(accounts=200, cdrs=100_000)
FULL = dict(accounts=10_000, cdrs=5_000_000)
DESTINATIONS = [(f'44{i:02d}', f"Destination {i:02d}",
        Decimal(10 + 7 * i) / 1000) for i in range(20)]
MONTH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def add_customers(t, service, count, billing_mode='postpaid',
        name="Customer", prorated=True):
    """``count`` customers of Reseller One (``billing_mode``), each with 2
    lines on its plan (1 included, 4.95 each extra; with ``prorated``
    every tenth's second line starts on the 12th of the month) and a
    monthly 10.00 charge of ``service`` from the month; return them.
    Run as Reseller One (``set_company``)."""
    from trytond.pool import Pool
    pool = Pool()
    Feature = pool.get('telecom.feature')
    FeaturePrice = pool.get('telecom.feature.price')
    Party = pool.get('party.party')
    TelecomAccount = pool.get('telecom.account')
    Line = pool.get('telecom.line')
    Charge = pool.get('telecom.account.charge')
    lines, = Feature.search([('code', '=', 'lines')])
    FeaturePrice.create([{
                'feature': lines.id, 'plan': t.r1_plan.id,
                'included': 1, 'price': Decimal('4.95'),
                'currency': t.currency.id}])
    parties = Party.create([{
                'name': f"{name} {i:05d}",
                'addresses': [('create', [{'city': "London"}])]}
            for i in range(count)])
    accounts = TelecomAccount.create([{
                'party': p.id, 'company': t.r1.id,
                'currency': t.currency.id, 'billing_mode': billing_mode,
                'rate_plans': [('add', [t.r1_plan.id])]}
            for p in parties])
    Line.create([{
                'account': a.id, 'name': f"Line {j}",
                'start_date': (dt.date(2026, 3, 12)
                    if prorated and j and i % 10 == 0
                    else dt.date(2025, 1, 1))}
            for i, a in enumerate(accounts) for j in range(2)])
    Charge.create([{
                'account': a.id, 'product': service.id,
                'description': "Service", 'amount': Decimal('10.00'),
                'currency': t.currency.id, 'recurrence': 'monthly',
                # From March: an older start would catch up every
                # month not yet invoiced since.
                'start_date': MONTH[0]}
            for a in accounts])
    return accounts


def build_tenant(sizes):
    """The chain, Reseller One's accounting and its customers; return
    (tenancy, customer ids)."""
    from trytond.modules.company.tests import set_company
    from trytond.modules.telecom_base.tests.tools import create_tenancy
    from trytond.modules.telecom_billing.tests.tools import (
        create_taxed_books)
    from trytond.modules.telecom_rating.tests.tools import create_rating

    t = create_rating(create_tenancy())
    # No fiscal year: a run refuses closed periods only, and the bench
    # leaves its invoices draft.
    books = create_taxed_books(t.r1, fiscal_year=False)
    with set_company(t.r1):
        accounts = add_customers(t, books.service, sizes['accounts'])
    return t, [a.id for a in accounts]


def seed_calls(cursor, t, accounts, count, seed=7):
    """COPY ``count`` rated calls and their two charges; return the total
    of the level-1 charges."""
    cursor.execute('SELECT COALESCE(MAX(id), 0) FROM telecom_cdr')
    first, = cursor.fetchone()
    generator = random.Random(seed)
    start = dt.datetime.combine(MONTH[0], dt.time())
    now = dt.datetime.now()
    cdr_columns = ('id', 'switch', 'call_id', 'leg', 'account', 'company',
        'caller', 'callee', 'direction', 'service', 'start', 'answer',
        '"end"', 'duration', 'disposition', 'state', 'rating_version',
        'create_uid', 'create_date')
    charge_columns = ('cdr', 'version', 'current', 'level', 'seller',
        'account', 'buyer', 'plan', 'prefix', 'destination',
        'charged_seconds', 'bundle_seconds', 'amount', 'currency',
        'create_uid', 'create_date')
    calls = []
    total = Decimal(0)
    for i in range(count):
        prefix, destination, price = generator.choice(DESTINATIONS)
        seconds = generator.randrange(1, 900)
        begin = start + dt.timedelta(seconds=generator.randrange(31 * 86400))
        end = begin + dt.timedelta(seconds=seconds)
        charged = -(-seconds // 60) * 60
        cost = (price * charged / 60).quantize(Decimal('0.000001'))
        retail = (cost * Decimal('1.1')).quantize(Decimal('0.000001'))
        total += retail
        calls.append((first + 1 + i, generator.choice(accounts), prefix,
                destination, seconds, charged, cost, retail, begin, end))
    copy_start = time.perf_counter()
    # The rows are consistent by construction: their foreign keys (seven
    # per charge) are not checked row by row, as a restore does not.
    cursor.execute('SET LOCAL session_replication_role = replica')
    with cursor.copy(
            f'COPY telecom_cdr ({", ".join(cdr_columns)}) FROM STDIN') as copy:
        for (id_, account, prefix, _, seconds, _, _, _, begin,
                end) in calls:
            copy.write_row((id_, 'bench', f'call-{id_}', 'a', account,
                    t.r1.id, '442071230000', prefix + '123456', 'outbound',
                    'voice', begin, begin, end, seconds, 'ANSWERED',
                    'rated', 1, 0, now))
    cursor.execute("SELECT setval('telecom_cdr_id_seq', %s)",
        (first + count,))
    with cursor.copy(f'COPY telecom_cdr_charge ({", ".join(charge_columns)})'
            ' FROM STDIN') as copy:
        for (id_, account, prefix, destination, _, charged, cost, retail,
                _, _) in calls:
            copy.write_row((id_, 1, True, 0, t.owner.id, t.r1_account.id,
                    t.r1.id, t.owner_plan.id, prefix, destination, charged,
                    0, cost, t.currency.id, 0, now))
            copy.write_row((id_, 1, True, 1, t.r1.id, account, None,
                    t.r1_plan.id, prefix, destination, charged, 0, retail,
                    t.currency.id, 0, now))
    cursor.execute('SET LOCAL session_replication_role = DEFAULT')
    # Statistics of every table, as autovacuum gives a live database: the
    # customers, made through the ORM just before, would have none.
    cursor.execute('ANALYZE')
    return total, time.perf_counter() - copy_start


def again(database, profile, commit=False):
    """Bill Reseller One's month again on a kept database, then roll back
    (or commit, timed)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 0) as transaction:
        Company = pool.get('company.company')
        Run = pool.get('telecom.billing.run')
        r1, = Company.search([('party.name', '=', "Reseller One")])
        with transaction.set_context(company=r1.id):
            start = time.perf_counter()
            cpu = time.process_time()
            run = profiled(profile, Run.bill, r1, *MONTH)
            invoices = len(run.invoices)
            if commit:
                transaction.commit()
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
        print(f"billing run again: {seconds:.1f} s (CPU of this process "
            f"{cpu:.1f} s), {invoices:,} invoices "
            f"({'committed' if commit else 'rolled back'}), "
            f"load after {os.getloadavg()[0]:.2f}")
        if not commit:
            transaction.rollback()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="200 accounts and 100,000 calls, to check the script works")
    parser.add_argument('--profile', action='store_true',
        help="print where the billing run spends its time")
    parser.add_argument('--keep', action='store_true',
        help="keep the database (its name is printed)")
    parser.add_argument('--seed-only', action='store_true',
        help="seed, keep the database and stop, for --again")
    parser.add_argument('--again', metavar='DATABASE',
        help="bill a database kept by --seed-only, and roll back")
    parser.add_argument('--commit', action='store_true',
        help="with --again: commit the run (timed), once per database")
    parser.add_argument('--database', metavar='NAME',
        help="the new database's name (default bench_billing_<pid>): "
        "engineers sharing the server name theirs")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = (args.again or args.database
        or f'bench_billing_{os.getpid()}')
    os.environ['TRYTOND_DATABASE_URI'] = uri
    os.environ['DB_NAME'] = database
    os.environ.pop('DB_CACHE', None)
    from trytond import backend
    from trytond.modules.telecom_base.locking import run_committed
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.transaction import Transaction
    assert backend.name == 'postgresql', "a postgresql:// URI is needed"

    print(f"Python {sys.version.split()[0]}, PostgreSQL at {uri}, "
        f"database {database}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}")
    if args.again:
        return again(database, args.profile, args.commit)
    start = time.perf_counter()
    activate_module(['telecom_billing'])
    print(f"activate telecom_billing: {time.perf_counter() - start:.1f} s")
    pool = Pool(database)
    try:
        start = time.perf_counter()
        # A singleton's first write locks its table: run_committed starts
        # again holding the lock, as Tryton's dispatcher does.
        t, accounts = run_committed(database, lambda pool: build_tenant(sizes))
        with Transaction().start(database, 0) as transaction:
            print(f"accounts: {len(accounts):,} customers with 2 lines and "
                f"a charge, through the ORM: "
                f"{time.perf_counter() - start:.1f} s")
            cursor = transaction.connection.cursor()
            total, seeded = seed_calls(cursor, t, accounts, sizes['cdrs'])
            transaction.commit()
            print(f"seeding: {sizes['cdrs']:,} CDRs and "
                f"{2 * sizes['cdrs']:,} charges by COPY, ANALYZE: "
                f"{seeded:.1f} s")

        if args.seed_only:
            args.keep = True
            return
        with Transaction().start(database, 0,
                context={'company': t.r1.id}) as transaction:
            Run = pool.get('telecom.billing.run')
            print(f"load before the run {os.getloadavg()[0]:.2f}")
            start = time.perf_counter()
            cpu = time.process_time()
            run = profiled(args.profile, Run.bill, t.r1, *MONTH)
            transaction.commit()
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            cursor = transaction.connection.cursor()
            cursor.execute('SELECT COUNT(*) FROM account_invoice '
                'WHERE telecom_run = %s', (run.id,))
            invoices, = cursor.fetchone()
            # Draft invoices keep no cached amounts: each line's amount is
            # its quantity × unit price, rounded to the cent (EUR).
            cursor.execute('SELECT COUNT(*), SUM(l.telecom_calls), '
                'SUM(ROUND(l.quantity::numeric * l.unit_price, 2)) '
                'FROM account_invoice_line l '
                'JOIN account_invoice i ON l.invoice = i.id '
                'WHERE i.telecom_run = %s', (run.id,))
            lines, calls, untaxed = cursor.fetchone()
        print(f"billing run of {len(accounts):,} accounts, "
            f"{sizes['cdrs']:,} calls, commit included: {seconds:.1f} s "
            f"(CPU of this process {cpu:.1f} s), {invoices:,} invoices, "
            f"{lines:,} lines, {sizes['cdrs'] / seconds:,.0f} calls/s, "
            f"load after {os.getloadavg()[0]:.2f}")
        # Each account: 10.00 + one extra line (4.95, or 4.95 × 20 ÷ 31 →
        # 3.19 from the 12th) + its calls, each account's sum rounded.
        print(f"calls billed {calls:,} (expected {sizes['cdrs']:,}); "
            f"untaxed total {untaxed} (usage seeded {total})")
        assert calls == sizes['cdrs'], calls
    finally:
        if args.keep:
            print(f"kept database {database}")
        else:
            drop_db(database)


if __name__ == '__main__':
    main()
