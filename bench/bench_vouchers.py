"""Benchmark of voucher generation on PostgreSQL; prints its figures.

On a fresh database (created, then dropped) of TEST_DATABASE_URI (default
postgresql://postgres@127.0.0.1:5432/) with telecom_payment activated
(restored from DB_CACHE when it holds the module, otherwise activated):

1. The tenancy of the tests (``create_tenancy``).
2. One batch of 1,000,000 vouchers of Reseller One: ``Batch.generate`` —
   the codes drawn from ``secrets``, COPY into a temporary table, one
   INSERT … ON CONFLICT DO NOTHING into ``telecom_voucher`` under its
   unique index — commit included (timed; goal ≤ 60 s). Checked: the
   count and that every code is distinct.
3. The batch's CSV for the printer (``Batch.export_csv``), timed.

Usage: python bench/bench_vouchers.py [--quick] [--keep]
"""
import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal

QUICK = 50_000
FULL = 1_000_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help=f"{QUICK:,} vouchers, to check the script works")
    parser.add_argument('--keep', action='store_true',
        help="keep the database (its name is printed)")
    args = parser.parse_args()
    quantity = QUICK if args.quick else FULL

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = f'bench_vouchers_{os.getpid()}'
    os.environ['TRYTOND_DATABASE_URI'] = uri
    os.environ['DB_NAME'] = database
    from trytond import backend
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.transaction import Transaction
    assert backend.name == 'postgresql', "a postgresql:// URI is needed"

    print(f"Python {sys.version.split()[0]}, PostgreSQL at {uri}, "
        f"database {database}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    activate_module(['telecom_payment'])
    print(f"activate telecom_payment: {time.perf_counter() - start:.1f} s")
    Pool(database)
    try:
        from trytond.modules.telecom_base.tests.tools import create_tenancy
        from trytond.modules.telecom_payment.tests.tools import as_root
        t = as_root(database, lambda pool: create_tenancy())
        with Transaction().start(database, 0) as transaction:
            Batch = Pool().get('telecom.voucher.batch')
            start = time.perf_counter()
            batch, = Batch.create([{
                        'name': "Bench", 'company': t.r1.id,
                        'value': Decimal('10.00'), 'quantity': quantity,
                        'currency': t.currency.id,
                        'expiry': dt.date.today() + dt.timedelta(days=365),
                        }])
            Batch.generate([batch])
            transaction.commit()
            elapsed = time.perf_counter() - start
            cursor = transaction.connection.cursor()
            cursor.execute('SELECT COUNT(*), COUNT(DISTINCT code) '
                'FROM telecom_voucher WHERE batch = %s', (batch.id,))
            count, distinct = cursor.fetchone()
            assert count == distinct == quantity, (count, distinct)
            print(f"generate: {quantity:,} vouchers, commit included: "
                f"{elapsed:.1f} s ({quantity / elapsed:,.0f} codes/s; "
                f"goal ≤ 60 s for 1,000,000)")
            start = time.perf_counter()
            text = Batch.export_csv([batch])
            elapsed = time.perf_counter() - start
            assert text.count('\n') == quantity + 1
            print(f"export: CSV of {quantity:,} vouchers "
                f"({len(text) / 1e6:.0f} MB): {elapsed:.1f} s")
    finally:
        if args.keep:
            print(f"kept database {database}")
        else:
            drop_db(database)
    return 0


if __name__ == '__main__':
    sys.exit(main())
