import zlib

from sql import Select

from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError


def advisory_lock(name):
    """Wait for, then hold until the end of the transaction, the lock named
    ``name`` (PostgreSQL advisory lock; SQLite serialises writers anyway).

    For work that must not run twice at once — two writers of claims, two
    rating runs spending one bundle — without locking whole tables.
    """
    transaction = Transaction()
    key = zlib.crc32(name.encode())
    cursor = transaction.connection.cursor()
    cursor.execute(*Select([transaction.database.lock_id(key, timeout=True)]))


def run_committed(database, work, user=0):
    """Run ``work(pool)`` in a transaction of ``database`` as ``user``
    (root by default: what a cron, a worker or a script does), commit it
    and return its result — started again holding the table and record
    locks it asks for (TransactionError), as trytond's dispatcher does."""
    extras = {}
    while True:
        with Transaction().start(database, user, **extras) as transaction:
            try:
                result = work(Pool())
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
            return result
