from decimal import Decimal

from sql import Literal
from sql.operators import Exists

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
    def _extra_costs(cls, rows):
        """The over-limit surcharge (F21) of the answered calls of
        ``rows`` admitted above their account's limit at extra cost: the
        account's ``over_limit_price`` once a call, or once every started
        minute of the billable seconds (90 s: 2 minutes), in the account's
        currency. A call is over the limit when its CDR says so or its live
        call does (the API stores CDRs without the flag): the CDR is then
        flagged, so re-rating finds it after the live call is gone."""
        pool = Pool()
        Account = pool.get('telecom.account')
        LiveCall = pool.get('telecom.live_call')
        Switch = pool.get('telecom.switch')
        extras = super()._extra_costs(rows)
        seconds = {r[0]: r[5] for r in rows if r[5]}
        if not seconds:
            return extras
        cdr, account = cls.__table__(), Account.__table__()
        live, switch = LiveCall.__table__(), Switch.__table__()
        cursor = Transaction().connection.cursor()
        live_over = Exists(live.join(switch,
                condition=live.switch == switch.id).select(Literal(1),
                where=(switch.code == cdr.switch)
                & (live.call_id == cdr.call_id) & (live.leg == cdr.leg)
                & (live.over_limit == Literal(True))))
        found = []
        for sub_ids in id_chunks(list(seconds)):
            cursor.execute(*cdr.join(account,
                    condition=cdr.account == account.id).select(
                    cdr.id, cdr.over_limit, account.over_limit_price,
                    account.over_limit_unit,
                    where=in_ids(cdr.id, sub_ids)
                    & ((cdr.over_limit == Literal(True)) | live_over)))
            found.extend(cursor.fetchall())
        for cdr_id, _, price, unit in found:
            price = Decimal(str(price or 0))
            if unit == 'minute':
                price *= -(-seconds[cdr_id] // 60)
            if price:
                extras[cdr_id] = price
        unflagged = [r[0] for r in found if not r[1]]
        for sub_ids in id_chunks(unflagged):
            cursor.execute(*cdr.update([cdr.over_limit], [True],
                    where=in_ids(cdr.id, sub_ids)))
        return extras

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
