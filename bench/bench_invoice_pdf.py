"""Benchmark of invoice PDFs (F30): render N branded PDF invoices; prints
its figures.

On a throw-away SQLite database with telecom_billing activated, the
fixture of tests/test_document.py (the owner's brand with an SVG logo, a
customer billed for January with the usage summary and the itemised call
annex) gives one draft invoice; it is copied N - 1 times (same lines, same
run, so every copy has its summary and annex: 2 A4 pages). Then:

1. ``InvoiceDocument.execute`` — what the Print button and the approval
   do — once per invoice, one after the other (timed: PDFs/s, seconds per
   PDF); every PDF is checked to start with ``%PDF``.
2. The batch download wizard's ZIP of all N (timed): the HTML rendered
   in this process, the PDFs by one worker process per CPU.

Rendering is CPU-bound (Genshi, then WeasyPrint's layout); the database
reads are a few queries per invoice.

Usage: python bench/bench_invoice_pdf.py [--count N] [--profile]
       (N defaults to 1000)
"""
import argparse
import io
import os
import resource
import sys
import time
import zipfile

os.environ.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
os.environ.setdefault('DB_NAME', ':memory:')


def cpu_seconds():
    "CPU time of this process and of its ended children (the PDF workers)"
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum([own.ru_utime, own.ru_stime,
            children.ru_utime, children.ru_stime])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--profile', action='store_true',
        help="print the 25 costliest functions of the rendering")
    args = parser.parse_args()

    from trytond.pool import Pool
    from trytond.tests.test_tryton import activate_module, with_transaction
    from trytond.transaction import Transaction
    activate_module(['telecom_billing'])
    from trytond.modules.telecom_billing.document import InvoiceDocument
    from trytond.modules.telecom_billing.tests.test_document import billed

    # As the tests run: a transaction retried on lock, rolled back at end.
    @with_transaction()
    def bench():
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Download = pool.get('telecom.invoice.download', type='wizard')
        _, invoice, _ = billed()
        start = time.perf_counter()
        copies = Invoice.copy([invoice] * (args.count - 1), default={
                'telecom_run': invoice.telecom_run.id})
        invoices = [invoice] + copies
        print(f"setup: {len(invoices)} invoices copied in "
            f"{time.perf_counter() - start:.1f} s", flush=True)

        if args.profile:
            import cProfile
            profile = cProfile.Profile()
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        size = 0
        for n, record in enumerate(invoices, 1):
            ext, content, _, _ = InvoiceDocument.execute([record.id], {})
            assert ext == 'pdf' and content[:4] == b'%PDF'
            size += len(content)
            if n % 100 == 0:
                print(f"  {n} PDFs, {time.perf_counter() - start:.1f} s",
                    file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if args.profile:
            import pstats
            profile.disable()
            pstats.Stats(profile).sort_stats('cumulative').print_stats(25)
        # CPU time too: on a shared machine the wall clock counts the
        # others' work.
        print(f"render: {len(invoices)} PDFs in {elapsed:.1f} s wall, "
            f"{cpu:.1f} s CPU — {len(invoices) / elapsed:.2f} PDFs/s, "
            f"{elapsed / len(invoices) * 1000:.0f} ms wall and "
            f"{cpu / len(invoices) * 1000:.0f} ms CPU each, "
            f"{size / len(invoices) / 1024:.0f} KiB each", flush=True)

        start, cpu = time.perf_counter(), cpu_seconds()
        session_id, _, _ = Download.create()
        wizard = Download(session_id)
        wizard.start.format = 'zip'
        with Transaction().set_context(
                active_model='account.invoice',
                active_ids=[i.id for i in invoices],
                active_id=invoice.id):
            wizard.transition_download()
        with zipfile.ZipFile(io.BytesIO(wizard.result.file)) as archive:
            assert len(archive.namelist()) == len(invoices)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
        print(f"batch ZIP: {len(invoices)} PDFs in {elapsed:.1f} s wall, "
            f"{cpu:.1f} s CPU (with the worker processes'), "
            f"{len(wizard.result.file) / 1024 / 1024:.1f} MiB")
    bench()


if __name__ == '__main__':
    main()
