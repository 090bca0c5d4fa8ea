"""Benchmark of the number inventory's import on PostgreSQL.

On a fresh database (created, then dropped) of TEST_DATABASE_URI (default
postgresql://postgres@127.0.0.1:5432/) with telecom_number activated:

1. The tenancy of the tests (``create_tenancy``).
2. A CSV of ten ranges of 100,000 numbers (1,000,000), with carrier-free
   costs, imported into the owner's inventory by
   ``InventoryNumber.import_file`` — every row checked, one query per
   range for numbers already held, then COPY — commit included (timed;
   goal ≤ 60 s). Checked: the count.
3. The same file again: refused whole (every range already held), timed.

Usage: python bench/bench_numbers.py [--quick] [--keep]
"""
import argparse
import os
import sys
import time

QUICK = 50_000
FULL = 1_000_000
RANGES = 10


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help=f"{QUICK:,} numbers, to check the script works")
    parser.add_argument('--keep', action='store_true',
        help="keep the database (its name is printed)")
    args = parser.parse_args()
    quantity = QUICK if args.quick else FULL

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = f'bench_numbers_{os.getpid()}'
    os.environ['TRYTOND_DATABASE_URI'] = uri
    os.environ['DB_NAME'] = database
    from trytond import backend
    from trytond.exceptions import UserError
    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, drop_db
    from trytond.transaction import Transaction
    assert backend.name == 'postgresql', "a postgresql:// URI is needed"

    print(f"Python {sys.version.split()[0]}, PostgreSQL at {uri}, "
        f"database {database}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    activate_module(['telecom_number'])
    print(f"activate telecom_number: {time.perf_counter() - start:.1f} s")
    Pool(database)
    size = quantity // RANGES
    lines = ['first,last,monthly_cost']
    for block in range(RANGES):
        first = 442070000000 + block * 1_000_000
        lines.append(f'+{first},+{first + size - 1},1.25')
    data = ('\n'.join(lines) + '\n').encode()
    try:
        from trytond.modules.telecom_base.tests.tools import create_tenancy
        from trytond.modules.telecom_base.locking import run_committed
        t = run_committed(database, lambda pool: create_tenancy())
        with Transaction().start(database, 0) as transaction:
            Number = Pool().get('telecom.inventory.number')
            Company = Pool().get('company.company')
            owner = Company(t.owner.id)
            start = time.perf_counter()
            count = Number.import_file(owner, data)
            transaction.commit()
            elapsed = time.perf_counter() - start
            assert count == quantity, count
            cursor = transaction.connection.cursor()
            cursor.execute('SELECT COUNT(*) FROM telecom_inventory_number')
            assert cursor.fetchone()[0] == quantity
            print(f"import: {quantity:,} numbers in {RANGES} ranges, "
                f"commit included: {elapsed:.1f} s ({quantity / elapsed:,.0f}"
                f" numbers/s; goal ≤ 60 s for 1,000,000)")
            start = time.perf_counter()
            try:
                Number.import_file(owner, data)
            except UserError:
                pass
            else:
                raise AssertionError("the same numbers were imported twice")
            transaction.rollback()
            print(f"the same file refused whole: "
                f"{time.perf_counter() - start:.2f} s")
    finally:
        if args.keep:
            print(f"kept database {database}")
        else:
            drop_db(database)
    return 0


if __name__ == '__main__':
    sys.exit(main())
