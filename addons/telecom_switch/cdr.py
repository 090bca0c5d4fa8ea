from trytond import backend
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from trytond.modules.telecom_rating.cdr import id_chunks, in_ids


class Cdr(metaclass=PoolMeta):
    __name__ = 'telecom.cdr'
    over_limit = fields.Boolean(
        "Over Limit", readonly=True,
        help="Admitted above the account's concurrency limit at extra "
        "cost; billing charges the extra.")

    @classmethod
    def _after_rating(cls, ids, rerate):
        # telecom_rating's hook once CDRs are rated and stored (its bulk
        # rating pipeline).
        super()._after_rating(ids, rerate)
        if not rerate:
            cls._release_live_calls(ids)

    @classmethod
    def _release_live_calls(cls, ids):
        """Once a call's cost is on the balance, drop the reservation its
        live call kept for it. A CDR means the call is over, whatever the
        row says: the ARI bridge posts the CDR before the end, which then
        finds nothing to do."""
        pool = Pool()
        LiveCall = pool.get('telecom.live_call')
        Switch = pool.get('telecom.switch')
        cdr = cls.__table__()
        live = LiveCall.__table__()
        call = LiveCall.__table__()
        switch = Switch.__table__()
        cursor = Transaction().connection.cursor()
        # The live calls of these CDRs first, then their deletion: a
        # not-ended one (a CDR before its end) is uncounted from its
        # account's counter row (the API's trigger, PostgreSQL), and those
        # rows are locked here in account order beforehand, as the API's
        # expiry does (api/store.py, EXPIRE) — deleted in scan order the
        # two could deadlock on two accounts. id_chunks: trytond 8.0's
        # grouped_slice without a size slices one id at a time.
        doomed, accounts = [], set()
        for sub_ids in id_chunks(ids):
            cursor.execute(*call.join(switch,
                    condition=call.switch == switch.id
                    ).join(cdr, condition=(cdr.switch == switch.code)
                    & (cdr.call_id == call.call_id)
                    & (cdr.leg == call.leg)
                    ).select(call.id, call.account, call.ended_at,
                    where=in_ids(cdr.id, sub_ids)
                    & (cdr.state == 'rated')))
            for call_id, account, ended_at in cursor:
                doomed.append(call_id)
                if ended_at is None:
                    accounts.add(account)
        if accounts and backend.name == 'postgresql':
            cursor.execute("SELECT to_regclass('telecom_live_call_count')")
            if cursor.fetchone()[0]:
                cursor.execute("SELECT account FROM telecom_live_call_count "
                    "WHERE account = ANY(%s) ORDER BY account FOR UPDATE",
                    (sorted(accounts),))
        for sub_ids in id_chunks(doomed):
            cursor.execute(*live.delete(where=in_ids(live.id, sub_ids)))
