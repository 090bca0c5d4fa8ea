"""Prepaid vouchers (F32): batches of cryptographically random codes a
tenant (the owner or a reseller) prints and sells; a customer redeems one
on the web (``Voucher.redeem``) or by phone (the call-control API).

Codes are 16 characters of a 32-symbol alphabet without look-alikes (no 0,
1, I, O): 80 random bits from ``secrets``, printed in groups of four.
A batch of a million is written with COPY (PostgreSQL) or executemany
(SQLite) into a table whose unique index keeps every code unique in the
installation; a collision (odds ~1e-12 per million) is simply drawn again.

Who may redeem: an account sold by the voucher's tenant or by one of its
sub-resellers (the tenant's subtree), in the voucher's currency.
Redemption is one UPDATE … WHERE state = 'active' RETURNING, then the
credit, in one transaction: of concurrent attempts exactly one updates the
row, the others find it redeemed.
"""
import base64
import csv
import datetime as dt
import io
import secrets

from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.modules.telecom_rating.cdr import forget_cached
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction

from .exceptions import RedemptionError, VoucherError

ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'
CODE_LENGTH = 16
MAX_QUANTITY = 1_000_000
# base32 turns every 10 random bytes into 16 symbols of its alphabet.
_TO_ALPHABET = bytes.maketrans(
    b'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', ALPHABET.encode())


def new_codes(count):
    "``count`` random codes (80 bits each, from the OS's CSPRNG)"
    raw = base64.b32encode(secrets.token_bytes(10 * count)).translate(
        _TO_ALPHABET).decode()
    return [raw[i:i + CODE_LENGTH]
        for i in range(0, CODE_LENGTH * count, CODE_LENGTH)]


def normalize_code(code):
    """The code as stored, from what a customer typed: case, spaces and
    dashes do not matter; None when it cannot be a code."""
    if not isinstance(code, str):
        return None
    code = ''.join(code.split()).replace('-', '').upper()
    if len(code) != CODE_LENGTH or not set(code) <= set(ALPHABET):
        return None
    return code


def printed(code):
    "ABCD-EFGH-JKLM-NPQR: what the card shows"
    return '-'.join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def sellers_above(company_id):
    """``company_id`` and the companies above it up to the owner: the
    tenants whose vouchers its accounts may redeem. Read in SQL: a
    reseller may not read its parent (F2), yet its customers redeem the
    parent's vouchers sold through it."""
    Company = Pool().get('company.company')
    company = Company.__table__()
    cursor = Transaction().connection.cursor()
    chain = []
    while company_id is not None and company_id not in chain:
        chain.append(company_id)
        cursor.execute(*company.select(company.parent,
                where=company.id == company_id))
        row = cursor.fetchone()
        company_id = row[0] if row else None
    return chain


class VoucherBatch(Workflow, ModelSQL, ModelView):
    "Voucher Batch"
    __name__ = 'telecom.voucher.batch'
    _states = {
        'readonly': Eval('state') != 'draft',
        }
    name = fields.Char("Name", required=True, states=_states,
        help="What the batch is for, e.g. the shop or the print run.")
    company = fields.Many2One(
        'company.company', "Tenant", required=True, states=_states,
        help="The owner or reseller selling these vouchers; accounts it "
        "or its sub-resellers sell may redeem them.")
    value = fields.Numeric(
        "Value", digits=(16, 4), required=True, states=_states,
        help="What each voucher credits to a prepaid balance.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True, states=_states,
        help="Only accounts in this currency may redeem the vouchers.")
    expiry = fields.Date("Expiry", required=True, states=_states,
        help="The last day a voucher of the batch may be redeemed.")
    quantity = fields.Integer("Quantity", required=True, states=_states,
        help="How many vouchers to generate (at most 1,000,000).")
    state = fields.Selection([
            ('draft', "Draft"),
            ('generated', "Generated"),
            ], "State", readonly=True, required=True)
    vouchers = fields.One2Many(
        'telecom.voucher', 'batch', "Vouchers", readonly=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._transitions |= {('draft', 'generated')}
        cls._buttons.update({
                'generate': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def validate_fields(cls, batches, field_names):
        super().validate_fields(batches, field_names)
        pool = Pool()
        Date = pool.get('ir.date')
        today = Date.today()
        for batch in batches:
            if batch.value is None or batch.value <= 0:
                raise VoucherError(gettext(
                        'telecom_payment.msg_voucher_value',
                        batch=batch.name, value=batch.value))
            if batch.currency.round(batch.value) != batch.value:
                raise VoucherError(gettext(
                        'telecom_payment.msg_voucher_value_digits',
                        batch=batch.name, value=batch.value,
                        currency=batch.currency.code,
                        digits=batch.currency.digits))
            if not (0 < (batch.quantity or 0) <= MAX_QUANTITY):
                raise VoucherError(gettext(
                        'telecom_payment.msg_voucher_quantity',
                        batch=batch.name, quantity=batch.quantity,
                        maximum=MAX_QUANTITY))
            if batch.state == 'draft' and batch.expiry < today:
                raise VoucherError(gettext(
                        'telecom_payment.msg_voucher_expiry',
                        batch=batch.name, expiry=batch.expiry, today=today))

    @classmethod
    @ModelView.button
    @Workflow.transition('generated')
    def generate(cls, batches):
        "Draw each batch's codes and write them in bulk"
        pool = Pool()
        Voucher = pool.get('telecom.voucher')
        for batch in batches:
            Voucher.create_codes(batch)

    @classmethod
    def export_csv(cls, batches):
        """The vouchers of ``batches`` as CSV text for the printer — code
        as printed, value, currency, expiry, batch — read in SQL, in the
        order they were drawn. The caller checks the user may read them."""
        pool = Pool()
        Voucher = pool.get('telecom.voucher')
        voucher = Voucher.__table__()
        cursor = Transaction().connection.cursor()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator='\n')
        writer.writerow(['code', 'value', 'currency', 'expiry', 'batch',
                'state'])
        for batch in batches:
            # All but the code and state are the batch's: quoted once.
            middle = io.StringIO()
            csv.writer(middle, lineterminator='').writerow([
                    str(batch.currency.round(batch.value)),
                    batch.currency.code, batch.expiry.isoformat(),
                    batch.name])
            middle = middle.getvalue()
            cursor.execute(*voucher.select(voucher.code, voucher.state,
                    where=voucher.batch == batch.id,
                    order_by=voucher.id.asc))
            while rows := cursor.fetchmany(10000):
                out.write(''.join(
                        f'{printed(c)},{middle},{s}\n'
                        for c, s in rows))
        return out.getvalue()


class VoucherBatchCSV(Report):
    "The vouchers of batches as CSV for printing"
    __name__ = 'telecom.voucher.batch.csv'

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        Batch = pool.get('telecom.voucher.batch')
        action_report, = ActionReport.search([
                ('report_name', '=', cls.__name__),
                ])
        cls.check_access(action_report, 'telecom.voucher.batch', ids)
        # The rules of the batches wall the tenants: a reseller's user
        # asking for another tenant's batch id gets nothing of it.
        batches = Batch.search([('id', 'in', list(map(int, ids)))],
            order=[('id', 'ASC')])
        name = '-'.join(b.name for b in batches)[:100] or 'vouchers'
        return ('csv', Batch.export_csv(batches).encode('utf-8'), False,
            name)


class Voucher(ModelSQL, ModelView):
    "Voucher"
    __name__ = 'telecom.voucher'
    _rec_name = 'code'
    batch = fields.Many2One(
        'telecom.voucher.batch', "Batch", required=True, readonly=True,
        ondelete='CASCADE')
    # The batch's: a column would cost a foreign-key check per code
    # inserted (a million in a batch).
    company = fields.Function(fields.Many2One(
            'company.company', "Tenant"),
        'get_company', searcher='search_company')
    code = fields.Char("Code", required=True, readonly=True, strip=False)
    expiry = fields.Date("Expiry", required=True, readonly=True)
    state = fields.Selection([
            ('active', "Active"),
            ('redeemed', "Redeemed"),
            ], "State", required=True, readonly=True)
    redeemed_by = fields.Many2One(
        'telecom.account', "Redeemed by", readonly=True,
        ondelete='RESTRICT')
    redeemed_at = fields.DateTime("Redeemed at", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(t, t.code),
                'telecom_payment.msg_voucher_code_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.batch, Index.Range()), (t.id, Index.Range())))
        cls._order = [('id', 'ASC')]

    @staticmethod
    def default_state():
        return 'active'

    def get_company(self, name):
        return self.batch.company.id

    @classmethod
    def search_company(cls, name, clause):
        return [('batch.company',) + tuple(clause[1:])]

    @classmethod
    def create_codes(cls, batch):
        """Insert ``batch.quantity`` new codes in bulk, drawing again the
        few that collide with codes of the installation."""
        cursor = Transaction().connection.cursor()
        # Who generated the codes is their batch's creator: create_uid
        # stays empty, one foreign-key check a code fewer.
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        missing = batch.quantity
        while missing:
            codes = new_codes(missing)
            if backend.name == 'postgresql':
                cursor.execute('CREATE TEMPORARY TABLE IF NOT EXISTS '
                    'telecom_voucher_new (code VARCHAR) ON COMMIT DROP')
                cursor.execute('TRUNCATE telecom_voucher_new')
                with cursor.copy(
                        'COPY telecom_voucher_new (code) FROM STDIN') as copy:
                    # Codes need no escaping: one line each.
                    copy.write('\n'.join(codes) + '\n')
                cursor.execute(
                    'INSERT INTO telecom_voucher '
                    '(batch, code, expiry, state, create_date) '
                    'SELECT %s, code, %s, %s, %s '
                    'FROM telecom_voucher_new '
                    # In index order: filling the unique index's pages in
                    # sequence costs half of filling them at random.
                    'ORDER BY code '
                    'ON CONFLICT (code) DO NOTHING',
                    (batch.id, batch.expiry, 'active', now))
                inserted = cursor.rowcount
            else:
                before = cursor.connection.total_changes
                cursor.executemany(
                    'INSERT OR IGNORE INTO telecom_voucher '
                    '(batch, code, expiry, state, create_date) '
                    'VALUES (?, ?, ?, ?, ?)',
                    [(batch.id, code, batch.expiry, 'active', now)
                        for code in codes])
                inserted = cursor.connection.total_changes - before
            # A code drawn twice in one draw is also caught by the index.
            missing -= inserted

    @classmethod
    def redeem(cls, code, account):
        """Credit prepaid ``account`` (a telecom.account) with the value of
        the voucher ``code`` and return that value (a Decimal in the
        account's currency). A code is spent once: a refusal raises
        RedemptionError whose ``reason`` is one of unknown, redeemed,
        expired, other_tenant, currency, invalid_account, and changes
        nothing. The caller commits (the credit is in the same
        transaction as the voucher's update)."""
        pool = Pool()
        Batch = pool.get('telecom.voucher.batch')
        BalanceLine = pool.get('telecom.balance.line')
        Date = pool.get('ir.date')
        stored = normalize_code(code)
        if stored is None:
            raise RedemptionError('unknown', gettext(
                    'telecom_payment.msg_redeem_malformed', code=code,
                    length=CODE_LENGTH))
        if account.billing_mode != 'prepaid' or account.state != 'active':
            raise RedemptionError('invalid_account', gettext(
                    'telecom_payment.msg_redeem_account',
                    account=account.rec_name))
        with Transaction().set_context(company=account.company.id):
            today = Date.today()
        tenants = sellers_above(account.company.id)
        voucher = cls.__table__()
        batch = Batch.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*voucher.join(batch,
                condition=voucher.batch == batch.id).select(
                voucher.id, voucher.batch, batch.currency, batch.company,
                where=voucher.code == stored))
        row = cursor.fetchone()
        # A batch's tenant and currency never change once generated.
        if (row is None or row[2] != account.currency.id
                or row[3] not in tenants):
            raise cls._refusal(stored, account, tenants, today)
        # The guard of "exactly once": of concurrent attempts one updates
        # the row; the others wait for its lock, then find it redeemed
        # (PostgreSQL's repeatable read makes them fail and be retried).
        # The row count says which: no RETURNING needed (SQLite refuses
        # the table alias python-sql gives it).
        voucher_id, batch_id, _, _ = row
        now = CurrentTimestamp()
        cursor.execute(*voucher.update(
                [voucher.state, voucher.redeemed_by, voucher.redeemed_at,
                    voucher.write_uid, voucher.write_date],
                ['redeemed', account.id, now, Transaction().user, now],
                where=(voucher.id == voucher_id)
                & (voucher.state == 'active')
                & (voucher.expiry >= today)))
        if cursor.rowcount != 1:
            raise cls._refusal(stored, account, tenants, today)
        forget_cached(cls)
        value = Batch(batch_id).value
        BalanceLine.credit([{
                    'account': account.id,
                    'amount': value,
                    'kind': 'voucher',
                    'description': gettext(
                        'telecom_payment.msg_voucher_movement',
                        code=printed(stored)),
                    'origin': f'{cls.__name__},{voucher_id}',
                    }])
        return value

    @classmethod
    def _refusal(cls, code, account, tenants, today):
        "Why ``code`` could not be redeemed by ``account``, as an error"
        records = cls.search([('code', '=', code)], limit=1)
        # Another tenant's voucher is refused as unknown: telling it apart
        # told a customer that the code exists elsewhere.
        if not records or records[0].company.id not in tenants:
            return RedemptionError('unknown', gettext(
                    'telecom_payment.msg_redeem_unknown', code=printed(code)))
        voucher, = records
        if voucher.state == 'redeemed':
            return RedemptionError('redeemed', gettext(
                    'telecom_payment.msg_redeem_redeemed',
                    code=printed(code),
                    date=voucher.redeemed_at.date().isoformat()))
        if voucher.expiry < today:
            return RedemptionError('expired', gettext(
                    'telecom_payment.msg_redeem_expired',
                    code=printed(code), expiry=voucher.expiry.isoformat()))
        return RedemptionError('currency', gettext(
                'telecom_payment.msg_redeem_currency',
                code=printed(code), currency=voucher.batch.currency.code,
                account=account.rec_name,
                account_currency=account.currency.code))
