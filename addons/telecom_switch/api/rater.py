"""The rating worker of ``telecom-callcontrol``: rates the CDRs the API
stored, outside the request path.

The API stores a CDR and answers at once; rating (the Tryton ORM, bundles,
the reseller chain) takes milliseconds of CPU per CDR that, done inside
the API process, starved authorize of the cores the switch needs. This
process rates in batches with telecom_rating's ``Cdr.rate_unrated`` — which
also drops the reservation the call's live row kept (``cdr.py``) — at a
lower CPU priority than the API (``--nice``):

- PostgreSQL: it LISTENs on ``telecom_cdr_stored`` (the API NOTIFYs in the
  transaction that stores CDRs), waits ``--gather`` seconds for more to
  arrive, rates what is unrated; it also looks every ``--poll`` seconds.
- SQLite (the demo): every ``--poll`` seconds.

Prepaid stays safe meanwhile: an ended call keeps its reservation until
its CDR is rated (README, "Ended calls hold…"). A CDR
that cannot be rated (no plan, no price) is not retried by this worker for
``--retry`` seconds; the rating cron and the back office see it too.

telecom-callcontrol starts it (and restarts it if it dies) unless
``--no-rater``; it can run alone:

    python -m trytond.modules.telecom_switch.api.rater -c CONFIG -d DB
"""
import argparse
import logging
import os
import select
import signal
import time

logger = logging.getLogger('telecom.callcontrol.rater')
CHANNEL = 'telecom_cdr_stored'
# CDRs read per pass: a backlog is rated over several passes, each its own
# transaction, so an outage's replay does not hold one huge transaction.
PASS_SIZE = 5000


class Rater:
    "Rate the stored CDRs of ``database`` as they come"

    def __init__(self, database, poll=2.0, gather=0.2, retry=300.0,
            nice=0):
        self.database = database
        self.nice = nice
        self.poll = poll
        self.gather = gather
        self.retry = retry
        # CDR id → when it was last left unrated (not retried before
        # ``retry`` seconds: a missing price is not fixed in a second).
        self.unratable = {}
        self.stopping = False

    def rate_pending(self):
        """Rate the unrated CDRs in passes; return (rated, left unrated)."""
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(self.database)
        rated = unrated = 0
        while not self.stopping:
            now = time.monotonic()
            self.unratable = {i: t for i, t in self.unratable.items()
                if now - t < self.retry}
            with Transaction().start(self.database, 0) as transaction:
                Cdr = pool.get('telecom.cdr')
                cdr = Cdr.__table__()
                cursor = transaction.connection.cursor()
                ids = [i for i in Cdr.unrated_ids()
                    if i not in self.unratable]
                ids = ids[:PASS_SIZE]
                if not ids:
                    break
                done = Cdr.rate_unrated([('id', 'in', ids)])
                cursor.execute(*cdr.select(cdr.id,
                        where=cdr.id.in_(ids) & (cdr.state == 'unrated')))
                left = [i for i, in cursor]
                transaction.commit()
            for id_ in left:
                self.unratable[id_] = now
            rated += done[0]
            unrated += len(left)
            if len(ids) < PASS_SIZE:
                break
        if rated or unrated:
            logger.info("rated %d CDRs, %d left unrated", rated, unrated)
        return rated, unrated

    def _listener(self):
        "A connection LISTENing for stored CDRs (PostgreSQL), else None"
        from trytond import backend, config
        if backend.name != 'postgresql':
            return None
        import psycopg
        uri = config.get('database', 'uri').rstrip('/') + '/' + self.database
        connection = psycopg.connect(uri, autocommit=True)
        connection.execute(f'LISTEN {CHANNEL}')
        return connection

    def _wait(self, listener):
        "Until a CDR is stored (PostgreSQL) or ``poll`` seconds passed"
        if listener is None:
            time.sleep(self.poll)
            return
        ready, _, _ = select.select([listener.fileno()], [], [], self.poll)
        if ready:
            # Gather: the CDRs of the next ``gather`` seconds come into
            # the same pass (one rating run for many).
            time.sleep(self.gather)
            for _ in listener.notifies(timeout=0):
                pass

    def warm(self):
        """Load what rating needs at full priority: compiling the tariff
        at a low one on a busy machine could take minutes."""
        from trytond.modules.telecom_rating.tariff import load_tariff
        from trytond.transaction import Transaction
        with Transaction().start(self.database, 0, readonly=True):
            load_tariff()
        if self.nice:
            os.nice(self.nice)

    def follow(self):
        listener = None
        self.warm()
        while not self.stopping:
            try:
                if listener is None:
                    listener = self._listener()
                self.rate_pending()
                self._wait(listener)
            except Exception:
                logger.exception("rating pass failed; again in %s s",
                    self.poll)
                if listener is not None:
                    listener.close()
                    listener = None
                time.sleep(self.poll)


def open_database(config_file, database):
    "Load trytond's configuration and the pool of ``database``"
    from trytond import config
    config.update_etc(config_file)
    from trytond.pool import Pool
    Pool.start()
    Pool(database).init()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='telecom-callcontrol-rater',
        description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--poll', type=float, default=2.0,
        help="seconds between looks when no CDR is announced (default 2)")
    parser.add_argument('--gather', type=float, default=0.2,
        help="seconds to wait for more CDRs once one is announced "
        "(default 0.2)")
    parser.add_argument('--retry', type=float, default=300.0,
        help="seconds before a CDR left unrated is tried again "
        "(default 300)")
    parser.add_argument('--nice', type=int, default=10,
        help="CPU niceness added to this process once started (default "
        "10: the API's decisions come first)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    open_database(args.config, args.database)
    rater = Rater(
        args.database, args.poll, args.gather, args.retry, args.nice)

    def stop(signum, frame):
        # A pass in progress rolls back: its CDRs are rated next time.
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rater.follow()
    return 0


if __name__ == '__main__':
    main()
