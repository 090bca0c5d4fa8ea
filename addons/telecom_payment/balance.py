"""The prepaid ledger as accounting, and low-balance notices.

Every movement of telecom_base's ledger (``telecom.balance.line``) becomes
an ``account.move`` in the books of the account's tenant: the customer's
share of the *Prepaid Balances* liability against the counterpart of its
kind (top-up receipts, vouchers sold, call revenue; ``_counterpart``, which
modules adding a kind extend). Top-ups and voucher redemptions are posted
at once; calls and their re-rating adjustments are posted by a cron, one
move per account, day and kind — never one per CDR.

Rounding: the ledger keeps micro-units, the books keep the currency's
cents. A move posts round(ledger up to it) − round(ledger before it), so
the sub-cent remainders carry forward and the customer's liability balance
always equals its ledger sum rounded (half-even) to the currency.
"""
import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal
from email.message import EmailMessage

from sql import Null

from trytond.config import config
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.telecom_base.balance import to_decimal
from trytond.modules.telecom_rating.cdr import forget_cached, in_ids
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.sendmail import sendmail_transactional
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import (
    PrepaidConfigurationError, PrepaidKindError, StaffCreditError)

logger = logging.getLogger(__name__)

# The configuration field of each kind's counterpart account; a kind that
# another module adds brings its own (BalanceLine._counterpart).
COUNTERPART = {
    'topup': 'topup_account',
    'voucher': 'voucher_account',
    'call': 'call_revenue_account',
    'refund': 'call_revenue_account',
    'adjustment': 'call_revenue_account',
    }
# Movements rating writes: many a day, posted together per account and day.
BATCHED = {'call', 'adjustment'}
# What every entry of the ledger needs (each kind its counterpart too); the
# settlement of prepaid invoices needs SETTLEMENT (invoice.py).
LEDGER = ['prepaid_journal', 'prepaid_account']
SETTLEMENT = ['prepaid_journal', 'prepaid_account', 'prepaid_usage_account']


def move_line(account, amount, second_amount=None, second_currency=None,
        party=None):
    """A move line of ``amount`` in the company's currency (positive: a
    debit) and, with ``second_currency``, ``second_amount`` in it."""
    MoveLine = Pool().get('account.move.line')
    return MoveLine(
        account=account, party=party,
        debit=amount if amount > 0 else Decimal(0),
        credit=-amount if amount < 0 else Decimal(0),
        second_currency=second_currency,
        amount_second_currency=second_amount if second_currency else None)


class BalanceLine(metaclass=PoolMeta):
    __name__ = 'telecom.balance.line'
    move = fields.Many2One(
        'account.move', "Accounting Move", readonly=True,
        ondelete='RESTRICT',
        help="The entry of this movement in the tenant's books; empty "
        "until it is posted.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # The part of a prepaid invoice not debited at rating, paid from
        # the balance by the invoice's settlement (its move).
        cls.kind.selection.append(('invoice', "Invoice"))

    @classmethod
    def get_origins(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        names = ['account.payment', 'telecom.voucher', 'account.invoice']
        return super().get_origins() + [
            (n, IrModel.get_name(n)) for n in names]

    @classmethod
    def add_movements(cls, movements):
        super().add_movements(movements)
        pool = Pool()
        Account = pool.get('telecom.account')
        Account.check_low_balance({m['account'] for m in movements})

    @classmethod
    def credit(cls, movements):
        """Record ``movements`` and post them at once (top-ups, vouchers):
        each must carry an origin, which finds its line again."""
        cls.add_movements(movements)
        lines = cls.search([
                ('origin', 'in', [m['origin'] for m in movements]),
                ('move', '=', None),
                ])
        cls.post(lines)
        return lines

    @classmethod
    def post_pending(cls, until=None):
        """Post the movements dated before ``until`` (today by default:
        a day's calls become one move once the day is over). A movement
        that cannot be booked (a kind without counterpart, a missing
        account) is left unposted and logged by name; the others are
        posted."""
        pool = Pool()
        Date = pool.get('ir.date')
        Company = pool.get('company.company')
        Configuration = pool.get('telecom.payment.configuration')
        if until is None:
            until = Date.today()
        configuration = Configuration(1)
        moment = dt.datetime.combine(until, dt.time())
        for company in Company.search([]):
            if not configuration.get_multivalue(
                    'prepaid_account', company=company.id):
                continue
            lines = cls.search([
                    ('move', '=', None),
                    ('date', '<', moment),
                    ('account.company', '=', company.id),
                    ], order=[('date', 'ASC'), ('id', 'ASC')])
            refused = []
            cls.post(lines, refused=refused)
            for group, error in refused:
                # A cron has no one to tell but its log: name the lines,
                # so they are not left unposted unnoticed.
                logger.error("%s: movements %s (%s) of account %s left "
                    "unposted: %s", company.rec_name,
                    ', '.join(str(l.id) for l in group), group[0].kind,
                    group[0].account.code, error.message)

    @classmethod
    def post(cls, lines, refused=None):
        """Post ``lines`` (unposted movements) as accounting moves: one per
        account, day and kind for calls and adjustments, one per movement
        otherwise. Return the moves.

        A group of lines that cannot be booked — its tenant's accounts not
        configured, a kind without counterpart, no open period — raises a
        UserError that names it; given a list ``refused``, the group is
        left unposted instead and (lines, error) appended to it."""
        pool = Pool()
        Move = pool.get('account.move')
        lines = [l for l in lines if not l.move]
        if not lines:
            return []
        groups = defaultdict(list)
        for line in sorted(lines, key=lambda l: (l.date, l.id)):
            if line.kind in BATCHED:
                key = (line.account.id, line.date.date(), line.kind)
            else:
                key = (line.account.id, line.date.date(), line.id)
            groups[key].append(line)
        unposted = cls._unposted_totals({l.account.id for l in lines})
        # The ledger already posted, per account, in micro-units.
        posted = {a.id: (a.balance or Decimal(0)) - unposted[a.id]
            for a in {l.account for l in lines}}
        moves, linked = [], []
        for key in sorted(groups, key=lambda k: (k[1], k[0])):
            group = groups[key]
            account = group[0].account
            total = sum((l.amount for l in group), Decimal(0))
            currency = account.currency
            amount = (currency.round(posted[account.id] + total)
                - currency.round(posted[account.id]))
            try:
                move = cls._move(account, group, key[1], amount,
                    cls._counterpart(account, group))
            except UserError as error:
                if refused is None:
                    raise
                # Left out of the posted ledger: the next moves carry on
                # from what is posted, so the books stay its rounding.
                refused.append((group, error))
                continue
            posted[account.id] += total
            moves.append(move)
            linked.append(group)
        Move.save(moves)
        Move.post(moves)
        for move, group in zip(moves, linked):
            cls.write(group, {'move': move.id})
        return moves

    @classmethod
    def _counterpart(cls, account, lines):
        """The account.account booked against *Prepaid Balances* for
        ``lines``, movements of one kind of ``account`` (one move): here
        the tenant's setting of the kind (COUNTERPART). A module that adds
        a kind extends this; a kind nobody books raises a UserError naming
        it and the tenant."""
        kind = lines[0].kind
        name = COUNTERPART.get(kind)
        if name is None:
            raise PrepaidKindError(gettext(
                    'telecom_payment.msg_no_counterpart',
                    kind=cls.kind_name(kind), company=account.company.rec_name,
                    lines=', '.join(str(l.id) for l in lines)))
        return account.prepaid_configuration([name])[name]

    @classmethod
    def kind_name(cls, kind):
        "The label of ``kind``, as the selection of every module says it"
        return dict(cls.kind.selection).get(kind, kind)

    @classmethod
    def _unposted_totals(cls, account_ids):
        "The sum of every unposted movement of each account, in Decimal"
        line = cls.__table__()
        cursor = Transaction().connection.cursor()
        totals = defaultdict(Decimal)
        # Summed in Python: SQLite would add NUMERIC in floating point.
        cursor.execute(*line.select(line.account, line.amount,
                where=in_ids(line.account, account_ids)
                & (line.move == Null)))
        for account_id, amount in cursor:
            totals[account_id] += to_decimal(amount)
        return totals

    @classmethod
    def _move(cls, account, lines, date, amount, counterpart):
        pool = Pool()
        Move = pool.get('account.move')
        Period = pool.get('account.period')
        Currency = pool.get('currency.currency')
        config = account.prepaid_configuration()
        company = account.company
        kind = lines[0].kind
        with Transaction().set_context(date=date):
            amount_company = Currency.compute(
                account.currency, amount, company.currency)
        second = (account.currency
            if account.currency != company.currency else None)

        def line(gl_account, value, second_value, party=None):
            return move_line(gl_account, value, second_value, second, party)
        # A credit of the customer is a credit of the liability.
        move_lines = [
            line(config['prepaid_account'], -amount_company, -amount,
                party=account.party),
            line(counterpart, amount_company, amount),
            ]
        if not amount_company:
            # Sub-cent movements that round to nothing still get their
            # (empty) entry, so every movement points to one.
            move_lines = []
        return Move(
            company=company, journal=config['prepaid_journal'],
            period=Period.find(company, date=date), date=date,
            description=gettext('telecom_payment.msg_move_description',
                kind=cls.kind_name(kind).lower(), account=account.rec_name),
            lines=move_lines)


class Account(metaclass=PoolMeta):
    __name__ = 'telecom.account'
    low_balance_threshold = fields.Numeric(
        "Low Balance Threshold", digits=(16, 4),
        states={
            'invisible': Eval('billing_mode') != 'prepaid',
            },
        help="Below this balance the customer gets one e-mail; empty: the "
        "tenant's default (prepaid configuration).")
    low_balance_notified = fields.Boolean(
        "Low Balance Notified", readonly=True,
        states={
            'invisible': Eval('billing_mode') != 'prepaid',
            },
        help="The customer was told its balance is low; cleared when a "
        "top-up lifts the balance above the threshold.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'credit_balance': {
                    'invisible': Eval('billing_mode') != 'prepaid',
                    'readonly': Eval('state') != 'active',
                    'depends': ['billing_mode', 'state'],
                    },
                })

    @classmethod
    def default_low_balance_notified(cls):
        return False

    @classmethod
    @ModelView.button_action('telecom_payment.wizard_account_credit')
    def credit_balance(cls, accounts):
        pass

    def prepaid_configuration(self, names=LEDGER):
        """The settings ``names`` of the tenant's prepaid accounting as a
        dict, or a clear error naming the tenant and what is missing."""
        pool = Pool()
        Configuration = pool.get('telecom.payment.configuration')
        configuration = Configuration(1)
        values = {}
        for name in names:
            values[name] = configuration.get_multivalue(
                name, company=self.company.id)
            if not values[name]:
                raise PrepaidConfigurationError(gettext(
                        'telecom_payment.msg_no_configuration',
                        company=self.company.rec_name,
                        field=Configuration.fields_get([name])[name][
                            'string']))
        return values

    def get_low_balance_threshold(self):
        pool = Pool()
        Configuration = pool.get('telecom.payment.configuration')
        if self.low_balance_threshold is not None:
            return self.low_balance_threshold
        return Configuration(1).get_multivalue(
            'low_balance_threshold', company=self.company.id)

    @classmethod
    def check_low_balance(cls, account_ids):
        """Tell the customers of prepaid ``account_ids`` whose balance went
        below their threshold — once, until a top-up lifts it again."""
        forget_cached(cls)
        low, recovered = [], []
        for account in cls.browse(sorted(account_ids)):
            if account.billing_mode != 'prepaid':
                continue
            threshold = account.get_low_balance_threshold()
            if threshold is None:
                continue
            balance = account.balance or Decimal(0)
            if balance < threshold and not account.low_balance_notified:
                low.append(account)
            elif balance >= threshold and account.low_balance_notified:
                recovered.append(account)
        for account in low:
            account.send_low_balance_notice()
        if low:
            cls.write(low, {'low_balance_notified': True})
        if recovered:
            cls.write(recovered, {'low_balance_notified': False})

    def send_low_balance_notice(self):
        email = self.party.contact_mechanism_get('email')
        if not email or not email.value:
            logger.info("account %s has a low balance and no e-mail",
                self.code)
            return
        msg = EmailMessage()
        msg['From'] = config.get('email', 'from')
        msg['To'] = email.value
        msg['Subject'] = gettext('telecom_payment.msg_low_balance_subject',
            account=self.code)
        msg.set_content(gettext('telecom_payment.msg_low_balance_body',
                account=self.code,
                balance=self.balance.quantize(Decimal('0.01')),
                currency=self.currency.code,
                threshold=self.get_low_balance_threshold()))
        sendmail_transactional(msg['From'], [email.value], msg)


class StaffCreditStart(ModelView):
    "Top Up or Adjust Balance"
    __name__ = 'telecom.account.credit.start'
    account = fields.Many2One('telecom.account', "Account", readonly=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    balance = fields.Numeric("Balance", digits=(16, 4), readonly=True)
    kind = fields.Selection([
            ('topup', "Top-up"),
            ('adjustment', "Adjustment"),
            ], "Kind", required=True,
        help="Top-up: money received from the customer (booked against "
        "top-up receipts).\n"
        "Adjustment: a correction of the balance (booked against call "
        "revenue); negative to debit it.")
    amount = fields.Numeric(
        "Amount", digits='currency', required=True,
        help="Positive credits the account, negative debits it.")
    reason = fields.Char(
        "Reason", required=True, strip=True,
        help="Why the balance is moved: shown in the account's balance "
        "movements and its accounting entry.")

    @classmethod
    def default_kind(cls):
        return 'topup'


class StaffCredit(Wizard):
    """Top Up or Adjust Balance: staff move a prepaid account's balance by
    hand — money received at the desk or by transfer, or a correction —
    as one movement posted at once to the tenant's books."""
    __name__ = 'telecom.account.credit'
    start = StateView('telecom.account.credit.start',
        'telecom_payment.account_credit_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Post", 'credit', 'tryton-ok', default=True),
            ])
    credit = StateTransition()

    def default_start(self, fields):
        account = self.record
        return {
            'account': account.id,
            'currency': account.currency.id,
            'balance': account.balance,
            }

    def transition_credit(self):
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        User = pool.get('res.user')
        account = self.record
        kind, amount = self.start.kind, self.start.amount
        reason = (self.start.reason or '').strip()
        currency = account.currency
        if account.billing_mode != 'prepaid':
            raise StaffCreditError(gettext(
                    'telecom_payment.msg_topup_not_prepaid',
                    account=account.rec_name))
        if not reason:
            raise StaffCreditError(gettext(
                    'telecom_payment.msg_staff_credit_reason'))
        if not amount or (kind == 'topup' and amount < 0):
            raise StaffCreditError(gettext(
                    'telecom_payment.msg_staff_credit_amount',
                    amount=amount or 0, currency=currency.code,
                    kind=dict(self.start.__class__.kind.selection)[kind]))
        if currency.round(amount) != amount:
            raise StaffCreditError(gettext(
                    'telecom_payment.msg_topup_digits',
                    amount=amount, currency=currency.code,
                    digits=currency.digits))
        user = User(Transaction().user)
        BalanceLine.add_movements([{
                    'account': account.id,
                    'amount': amount,
                    'kind': kind,
                    'description': gettext(
                        'telecom_payment.msg_staff_credit_movement',
                        reason=reason, user=user.rec_name),
                    }])
        # The movement just written: the newest unposted one of its kind
        # (no origin finds it; this transaction wrote it last).
        line, = BalanceLine.search([
                ('account', '=', account.id),
                ('kind', '=', kind),
                ('move', '=', None),
                ], order=[('id', 'DESC')], limit=1)
        BalanceLine.post([line])
        return 'end'
