"""What billing knows of rated calls: which charges a run billed.

The claim of a run is the table ``telecom_cdr_charge_billed`` (charge,
run, account): one narrow row per charge billed, written by one INSERT …
SELECT. Nothing else is written: the charges and the CDRs are never
rewritten by billing (an UPDATE of 5,000,000 charges and of their CDRs was
most of a month's run, docs/PERFORMANCE.md). A CDR's ``invoiced`` and
``adjustment`` are read from the claims.
"""
from sql import Literal, Table
from sql.operators import Exists

from trytond import backend
from trytond.model import Index, fields
from trytond.modules.telecom_rating.cdr import id_chunks, in_ids
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

BILLED = 'telecom_cdr_charge_billed'


def billed_table():
    "The claims: (charge, run, account), one row per charge a run billed"
    return Table(BILLED)


def is_billed(charge):
    "The condition that a run billed ``charge`` (a charge table)"
    billed = billed_table()
    return Exists(billed.select(Literal(1),
            where=billed.charge == charge.id))


def billed_before(charge):
    """The condition that an older version of ``charge``'s call and level
    (``charge`` a charge table) was billed: a re-rated charge (version >
    1) whose difference is still to bill, when it is not billed itself."""
    Charge = Pool().get('telecom.cdr.charge')
    billed, older = billed_table(), Charge.__table__()
    return (charge.version > 1) & Exists(older
        .join(billed, condition=billed.charge == older.id)
        .select(Literal(1),
            where=(older.cdr == charge.cdr)
            & (older.level == charge.level)
            & (older.version < charge.version)))


class Charge(metaclass=PoolMeta):
    __name__ = 'telecom.cdr.charge'
    billing_run = fields.Function(fields.Many2One(
            'telecom.billing.run', "Billing Run",
            help="The run that invoiced this charge (or the difference "
            "between it and the version invoiced before)."),
        'get_billing_run')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # A reseller's purchase was invoiced by its parent's run.
        cls._parent_references = cls._parent_references | {'billing_run'}
        t = cls.__table__()
        cls._sql_indexes.update({
                # The runs read a seller's current charges (a small
                # tenant's through this index; a large one's by a scan).
                Index(t, (t.seller, Index.Range()),
                    where=t.current == True),  # noqa: E712
                # The re-rated charges, few: a run's adjustments and the
                # CDRs that need one are looked up from them.
                Index(t, (t.cdr, Index.Range()),
                    where=t.version > 1),
                })

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        cursor = Transaction().connection.cursor()
        table = cls.__table_handler__(module_name)
        created = not backend.TableHandler.table_exist(BILLED)
        # A plain table, not a model: 3 integers a charge, no id sequence,
        # no create/write columns. The primary key makes billing a charge
        # twice impossible; (run, account) serves releasing an invoice's
        # charges and its call annex. No foreign keys, as on the charges
        # (a check per row would double the claim's cost).
        cursor.execute(f'CREATE TABLE IF NOT EXISTS "{BILLED}" ('
            'charge INTEGER PRIMARY KEY, run INTEGER NOT NULL, '
            'account INTEGER NOT NULL)')
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{BILLED}_run_account" '
            f'ON "{BILLED}" (run, account)')
        if created and table.column_exist('billing_run'):
            # Databases that kept the claim in telecom_cdr_charge.
            cursor.execute(f'INSERT INTO "{BILLED}" (charge, run, account) '
                f'SELECT id, billing_run, account FROM "{cls._table}" '
                'WHERE billing_run IS NOT NULL')
            table.drop_column('billing_run')

    @classmethod
    def get_billing_run(cls, charges, name):
        billed = billed_table()
        cursor = Transaction().connection.cursor()
        result = dict.fromkeys(map(int, charges))
        for sub_ids in id_chunks(list(result)):
            cursor.execute(*billed.select(billed.charge, billed.run,
                    where=in_ids(billed.charge, sub_ids)))
            result.update(cursor)
        return result


class Cdr(metaclass=PoolMeta):
    __name__ = 'telecom.cdr'
    invoiced = fields.Function(fields.Boolean(
            "Invoiced",
            help="A billing run invoiced this call, at one tenant level or "
            "more."),
        'get_billing_state', searcher='search_billing_state')
    adjustment = fields.Function(fields.Boolean(
            "Needs Adjustment",
            help="Re-rating changed the price of this invoiced call: the "
            "next invoice carries the difference."),
        'get_billing_state', searcher='search_billing_state')

    @classmethod
    def _billing_state_query(cls, name, cdr_ids=None):
        """A query of the ids of the CDRs (of ``cdr_ids``, or all) whose
        ``name`` is true"""
        Charge = Pool().get('telecom.cdr.charge')
        charge, billed = Charge.__table__(), billed_table()
        if name == 'invoiced':
            from_ = charge.join(billed, condition=billed.charge == charge.id)
            where = None
        else:
            from_ = charge
            where = ((charge.current == True)  # noqa: E712
                & ~is_billed(charge) & billed_before(charge))
        if cdr_ids is not None:
            only = in_ids(charge.cdr, cdr_ids)
            where = only if where is None else where & only
        return from_.select(charge.cdr, where=where)

    @classmethod
    def get_billing_state(cls, cdrs, names):
        cursor = Transaction().connection.cursor()
        ids = [c.id for c in cdrs]
        result = {}
        for name in names:
            found = set()
            for sub_ids in id_chunks(ids):
                cursor.execute(*cls._billing_state_query(name, sub_ids))
                found.update(r[0] for r in cursor)
            result[name] = {i: i in found for i in ids}
        return result

    @classmethod
    def search_billing_state(cls, name, clause):
        _, operator, value = clause[:3]
        if operator not in {'=', '!='}:
            raise ValueError(f"{name}: only = and != are searchable")
        wanted = bool(value) == (operator == '=')
        return [('id', 'in' if wanted else 'not in',
                cls._billing_state_query(name))]
