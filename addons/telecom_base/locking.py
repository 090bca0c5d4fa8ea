import sqlite3
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


def keep_transactional(transaction):
    """Make the SQLite transaction just started a transaction again.

    trytond's SQLite backend shares one connection per database between
    transactions, and its cache sync (at each start, with ``[cache]
    clean_timeout = 0``) asks that connection for autocommit and leaves
    it so: every statement is then committed at once, and a rollback — a
    refused form undone, a retry holding the locks it asked for — undoes
    nothing (a shop order retried for its locks was sold four times).
    Nothing to do on PostgreSQL."""
    connection = transaction.connection
    if (isinstance(connection, sqlite3.Connection)
            and connection.isolation_level is None):
        # What trytond's SQLite backend sets for a transaction.
        connection.isolation_level = 'IMMEDIATE'


def run_committed(database, work, user=0):
    """Run ``work(pool)`` in a transaction of ``database`` as ``user``
    (root by default: what a cron, a worker or a script does), commit it
    and return its result — started again holding the table and record
    locks it asks for (TransactionError), as trytond's dispatcher does."""
    extras = {}
    while True:
        with Transaction().start(database, user, **extras) as transaction:
            keep_transactional(transaction)
            try:
                result = work(Pool())
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
            return result
