import zlib

from sql import Select

from trytond.transaction import Transaction


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
