"""Benchmark of a billing run of prepaid accounts, on PostgreSQL: what
posting their invoices and paying them from the balance costs; prints its
figures.

On a fresh database (created, then dropped) of TEST_DATABASE_URI (default
postgresql://postgres@127.0.0.1:5432/) with telecom_payment activated:
Reseller One's books (VAT 20 %, a fixed 0.50 fee per extra line, March's
fiscal year) with its prepaid accounts, a feature price on its plan (1
line included, 4.95 each extra) and N prepaid customers (1,000; --quick:
100), each with 2 lines and a monthly 10.00 charge, made through the ORM.
Then ``BillingRun.bill`` of Reseller One for March, commit included
(timed): N invoices written in bulk, then posted and settled from the
balance through Tryton's ``Invoice.post``, one move and one movement each
(``Invoice.settle_from_balance``, timed apart).

Usage: python bench/bench_prepaid_settlement.py [--quick] [--profile]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_billing import MONTH, add_customers  # noqa: E402
from bench_rating_db import profiled  # noqa: E402


def build_tenant(count):
    "Reseller One's books and ``count`` prepaid customers; return t"
    from trytond.modules.company.tests import set_company
    from trytond.modules.telecom_base.tests.tools import create_tenancy
    from trytond.modules.telecom_billing.tests.tools import (
        create_taxed_books)
    from trytond.modules.telecom_payment.tests.tools import (
        add_prepaid_books_to_chart)
    from trytond.modules.telecom_rating.tests.tools import create_rating

    t = create_rating(create_tenancy())
    books = create_taxed_books(t.r1, today=MONTH[0])
    with set_company(t.r1):
        add_prepaid_books_to_chart(t.r1)
        add_customers(t, books.service, count, billing_mode='prepaid',
            name="Prepaid", prorated=False)
    return t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="100 accounts, to check the script works")
    parser.add_argument('--profile', action='store_true',
        help="print where the billing run spends its time")
    args = parser.parse_args()
    count = 100 if args.quick else 1000

    uri = os.environ.get(
        'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
    database = f'bench_prepaid_{os.getpid()}'
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
    start = time.perf_counter()
    activate_module(['telecom_payment'])
    print(f"activate telecom_payment: {time.perf_counter() - start:.1f} s")
    pool = Pool(database)
    try:
        start = time.perf_counter()
        t = run_committed(database, lambda pool: build_tenant(count))
        print(f"accounts: {count:,} prepaid customers with 2 lines and a "
            f"charge, through the ORM: {time.perf_counter() - start:.1f} s")
        Invoice = pool.get('account.invoice')
        settle = Invoice.settle_from_balance.__func__
        spent = []

        def timed(cls, invoices):
            cpu = time.process_time()
            result = settle(cls, invoices)
            spent.append(time.process_time() - cpu)
            return result
        Invoice.settle_from_balance = classmethod(timed)

        def bill(pool):
            # Started again holding the locks it asks for, as the cron
            # does: the run asks for posting's locks before it writes.
            del spent[:]
            with Transaction().set_context(company=t.r1.id):
                run = profiled(args.profile, pool.get(
                        'telecom.billing.run').bill, t.r1, *MONTH)
                states = {}
                for invoice in run.invoices:
                    states[invoice.state] = states.get(invoice.state, 0) + 1
                return states
        print(f"load before the run {os.getloadavg()[0]:.2f}")
        start = time.perf_counter()
        cpu = time.process_time()
        states = run_committed(database, bill)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        print(f"billing run of {count:,} prepaid accounts, commit "
            f"included: {seconds:.1f} s (CPU of this process {cpu:.1f} s, "
            f"of which posting and settling {sum(spent):.1f} s: "
            f"{1000 * sum(spent) / count:.0f} ms an invoice), invoices "
            f"{states}, load after {os.getloadavg()[0]:.2f}")
        assert states == {'paid': count}, states
    finally:
        drop_db(database)


if __name__ == '__main__':
    main()
