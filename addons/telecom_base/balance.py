"""The money of prepaid accounts: a ledger of movements (top-ups, calls,
refunds, adjustments) and the running balance on the account.

The balance is a stored column updated in the same transaction as each
movement (``add_movements``), so call control reads it in O(1) while it
decides a call. The billing module turns movements into accounting entries.
"""
from decimal import Decimal

from sql import Column, For
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

KINDS = [
    ('topup', "Top-up"),
    ('call', "Calls"),
    ('refund', "Refund"),
    ('voucher', "Voucher"),
    ('adjustment', "Adjustment"),
    ]


def to_decimal(value):
    """A NUMERIC read with plain SQL as Decimal: SQLite hands back what
    Tryton stored (text as bytes) or a number."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bytes):
        value = value.decode()
    return Decimal(str(value))


class BalanceLine(ModelSQL, ModelView):
    "Balance Movement"
    __name__ = 'telecom.balance.line'
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='RESTRICT',
        readonly=True)
    date = fields.DateTime("Date", required=True, readonly=True)
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    amount = fields.Numeric(
        "Amount", digits=(16, 6), required=True, readonly=True,
        help="Positive credits the account, negative debits it.")
    description = fields.Char("Description", readonly=True)
    origin = fields.Reference(
        "Origin", selection='get_origins', readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.account, Index.Range()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def get_origins(cls):
        return [(None, '')]

    @classmethod
    def add_movements(cls, movements):
        """Record movements given as dicts (account id, amount, kind,
        description, origin, date) and move the accounts' balances, in bulk.
        """
        pool = Pool()
        Account = pool.get('telecom.account')
        if not movements:
            return
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        line = cls.__table__()
        names = ['account', 'amount', 'kind', 'description', 'origin']
        columns = [Column(line, n) for n in names] + [
            line.date, line.create_uid, line.create_date]
        now = CurrentTimestamp()
        values = [
            [m.get(n) for n in names] + [m.get('date') or now,
                transaction.user, now]
            for m in movements]
        size = max(1, backend.MAX_QUERY_PARAMS // len(columns))
        for i in range(0, len(values), size):
            cursor.execute(*line.insert(columns, values[i:i + size]))
        totals = {}
        for movement in movements:
            totals[movement['account']] = (
                totals.get(movement['account'], Decimal(0))
                + Decimal(movement['amount']))
        account = Account.__table__()
        for account_id, total in sorted(totals.items()):
            # Read, add in Decimal, write: SQLite would add in floating
            # point. On PostgreSQL the row lock orders concurrent movers.
            query = account.select(account.balance,
                where=account.id == account_id)
            if backend.name != 'sqlite':
                query.for_ = For('UPDATE')
            cursor.execute(*query)
            balance = to_decimal(cursor.fetchone()[0])
            cursor.execute(*account.update(
                    [account.balance], [balance + total],
                    where=account.id == account_id))
