"""Top-ups (F31): a receivable ``account.payment`` for a prepaid account,
collected by any of Tryton's payment journals — PayPal through Braintree
(account_payment_braintree) or SEPA direct debit (account_payment_sepa).

A payment credits the balance by what it has collected and not yet
credited: the credit follows the payment's settled amount, so a payment
that succeeds twice (a gateway pull after a webhook) credits once, and a
payment refunded or charged back after success takes the money back.
"""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.telecom_rating.cdr import forget_cached
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import TopUpError


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'
    telecom_account = fields.Many2One(
        'telecom.account', "Prepaid Account", ondelete='RESTRICT',
        domain=[
            ('party', '=', Eval('party', -1)),
            ('company', '=', Eval('company', -1)),
            ('billing_mode', '=', 'prepaid'),
            ],
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="The prepaid account this payment tops up.")
    telecom_credited = fields.Numeric(
        "Credited to Balance", digits=(16, 6), readonly=True,
        states={
            'invisible': ~Eval('telecom_account'),
            },
        help="What this payment has credited to the prepaid balance.")

    @classmethod
    def default_telecom_credited(cls):
        return Decimal(0)

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('telecom_credited', Decimal(0))
        return super().copy(payments, default=default)

    @classmethod
    def top_up(cls, account, journal, amount, currency=None):
        """A submitted top-up payment of ``amount`` (Decimal) for prepaid
        ``account`` through payment ``journal``. ``currency``: a code or
        a currency, the account's by default. Bad input raises TopUpError
        and creates nothing."""
        pool = Pool()
        Currency = pool.get('currency.currency')
        Configuration = pool.get('telecom.payment.configuration')
        if account.billing_mode != 'prepaid':
            raise TopUpError(gettext('telecom_payment.msg_topup_not_prepaid',
                    account=account.rec_name))
        if isinstance(currency, str):
            currencies = Currency.search([('code', '=', currency.upper())])
            if not currencies:
                raise TopUpError(gettext(
                        'telecom_payment.msg_topup_unknown_currency',
                        currency=currency))
            currency, = currencies
        currency = currency or account.currency
        if currency != account.currency or journal.currency != currency:
            raise TopUpError(gettext(
                    'telecom_payment.msg_topup_currency',
                    currency=currency.code, account=account.rec_name,
                    account_currency=account.currency.code,
                    journal=journal.rec_name,
                    journal_currency=journal.currency.code))
        if journal.company != account.company:
            raise TopUpError(gettext('telecom_payment.msg_topup_journal',
                    journal=journal.rec_name, account=account.rec_name))
        if (not isinstance(amount, (Decimal, int))
                or isinstance(amount, bool)
                or not Decimal(amount).is_finite()):
            raise TopUpError(gettext('telecom_payment.msg_topup_amount_type',
                    amount=amount))
        amount = Decimal(amount)
        if amount <= 0:
            raise TopUpError(gettext('telecom_payment.msg_topup_positive',
                    amount=amount, currency=currency.code))
        if currency.round(amount) != amount:
            raise TopUpError(gettext('telecom_payment.msg_topup_digits',
                    amount=amount, currency=currency.code,
                    digits=currency.digits))
        maximum = Configuration(1).get_multivalue(
            'topup_maximum', company=account.company.id)
        if maximum is not None and amount > maximum:
            raise TopUpError(gettext('telecom_payment.msg_topup_maximum',
                    amount=amount, currency=currency.code,
                    maximum=maximum))
        payment, = cls.create([{
                    'company': account.company.id,
                    'journal': journal.id,
                    'kind': 'receivable',
                    'party': account.party.id,
                    'telecom_account': account.id,
                    'amount': amount,
                    'reference': gettext(
                        'telecom_payment.msg_topup_description',
                        account=account.code),
                    }])
        cls.submit([payment])
        return payment

    @classmethod
    def succeed(cls, payments):
        super().succeed(payments)
        cls.credit_top_ups(payments)

    @classmethod
    def fail(cls, payments):
        super().fail(payments)
        cls.credit_top_ups(payments)

    @classmethod
    def credit_top_ups(cls, payments):
        """Bring the balance of each top-up's account to what the payment
        has collected: its amount once succeeded, nothing once failed."""
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        payments = [p for p in payments if p.telecom_account]
        if not payments:
            return
        # Two processes settling the same payment (webhook and pull)
        # queue here; the second reads what the first credited.
        cls.lock(payments)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        movements, credited = [], {}
        for payment in payments:
            cursor.execute(*table.select(
                    table.state, table.amount, table.telecom_credited,
                    where=table.id == payment.id))
            state, amount, done = cursor.fetchone()
            target = (Decimal(str(amount)) if state == 'succeeded'
                else Decimal(0))
            difference = target - Decimal(str(done or 0))
            if not difference:
                continue
            credited[payment.id] = target
            movements.append({
                    'account': payment.telecom_account.id,
                    'amount': difference,
                    'kind': 'topup',
                    'description': gettext(
                        'telecom_payment.msg_topup_movement',
                        payment=payment.rec_name),
                    'origin': str(payment),
                    })
        if not movements:
            return
        for payment_id, target in credited.items():
            cursor.execute(*table.update(
                    [table.telecom_credited], [target],
                    where=table.id == payment_id))
        forget_cached(cls)
        BalanceLine.credit(movements)


class BankAccountNumber(metaclass=PoolMeta):
    __name__ = 'bank.account.number'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # An IBAN is its holder's, who may pay two tenants from it: unique
        # across the platform, one tenant's customer blocked another's
        # mandate and learnt that the IBAN was registered (issue 16). An
        # account still has one IBAN.
        cls._sql_constraints = [c for c in cls._sql_constraints
            if c[0] != 'number_iban_active_exclude']

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        cls.__table_handler__(module).drop_constraint(
            'number_iban_active_exclude')
