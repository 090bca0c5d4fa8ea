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


def hold_sqlite_transactions():
    """Keep an SQLite connection in the mode its transaction asked for
    until the transaction gives it back.

    trytond's SQLite backend opens one connection per transaction, and
    hands that same connection to whoever asks the database for one
    meanwhile: the cache sync (at each start with ``[cache] clean_timeout
    = 0``, every few minutes otherwise) asks it for autocommit and leaves
    it so. Every statement of the transaction was then committed at once,
    and a write refused by a record rule, a domain, a uniqueness or a
    validation stayed written (a reseller created rates on the owner's
    plan), a retry holding its locks ran twice. Called when telecom_base
    is imported, so every process that loads the suite — trytond's
    server, cron, worker, admin, the suite's commands and servers — runs
    SQLite transactionally, as PostgreSQL does."""
    from trytond.backend.sqlite.database import Database
    if getattr(Database, '_telecom_holds', False):
        return
    get_connection = Database.get_connection
    put_connection = Database.put_connection

    def get(self, autocommit=False, readonly=False, statement_timeout=None):
        connection = self._conn
        if getattr(connection, 'telecom_holders', 0):
            connection.telecom_holders += 1
            return connection
        connection = get_connection(self, autocommit=autocommit,
            readonly=readonly, statement_timeout=statement_timeout)
        connection.telecom_holders = 1
        return connection

    def put(self, connection=None):
        if getattr(connection, 'telecom_holders', 0):
            connection.telecom_holders -= 1
        return put_connection(self, connection)

    Database.get_connection = get
    Database.put_connection = put
    Database._telecom_holds = True


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
