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
        # id_chunks: trytond 8.0's grouped_slice without a size slices one
        # id at a time.
        for sub_ids in id_chunks(ids):
            rated = call.join(switch,
                condition=call.switch == switch.id
                ).join(cdr, condition=(cdr.switch == switch.code)
                & (cdr.call_id == call.call_id)
                & (cdr.leg == call.leg)
                ).select(call.id,
                where=in_ids(cdr.id, sub_ids)
                & (cdr.state == 'rated'))
            cursor.execute(*live.delete(where=live.id.in_(rated)))
