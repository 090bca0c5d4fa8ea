"""The portal's seam to telecom_payment (F31, F32): vouchers and top-ups.

telecom_payment owns the money: ``telecom.voucher.redeem(code, account)``
and ``account.payment.top_up(account, journal, amount)``. The portal only
asks and shows the answer. When telecom_payment is not activated, the pages
say the service is not offered instead of failing.

PayPal the Braintree way (account_payment_braintree): the top-up page asks
the gateway for a client token and renders the Drop-in's form; the browser
posts the payment-method nonce the Drop-in made with the amount; the
server records the top-up payment with the nonce, creates the Braintree
sale at once (``Payment.braintree_transact``, as the queue would) and pulls
its status. A decline is answered next to the amount; a success is
credited by telecom_payment when the sale settles, once. Each rendered
form carries a random checkout id stored on the payment: the same form
posted again (reload, back button) shows that payment's outcome and
charges nothing more."""
import datetime as dt
import re
import secrets

from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.transaction import Transaction

# The Drop-in of production, from Braintree's CDN (not reachable from
# the test machines: the sandbox renders SANDBOX_NONCES instead).
DROPIN_SCRIPT = (
    'https://js.braintreegateway.com/web/dropin/1.43.0/js/dropin.min.js')
# What the Drop-in's script, its PayPal window and its card fields need;
# the rest of the portal's policy is unchanged.
DROPIN_CSP = (
    "default-src 'self'; img-src 'self' data: https://*.braintreegateway.com "
    "https://*.paypal.com https://*.paypalobjects.com; "
    "script-src 'self' https://js.braintreegateway.com "
    "https://assets.braintreegateway.com https://www.paypalobjects.com; "
    "frame-src https://assets.braintreegateway.com https://*.paypal.com; "
    "connect-src 'self' https://api.braintreegateway.com "
    "https://api.sandbox.braintreegateway.com "
    "https://client-analytics.braintreegateway.com https://*.paypal.com; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
# Braintree's documented sandbox nonces: what the Drop-in would post for
# a PayPal sandbox account that approves, and for a card the sandbox's
# processor declines.
SANDBOX_NONCES = [
    ('fake-paypal-one-time-nonce', "PayPal (sandbox account)"),
    ('fake-processor-declined-visa-nonce',
        "Visa card the processor declines (sandbox)"),
    ]
CHECKOUT_ID = re.compile(r'[0-9a-f]{32}')


class Refused(Exception):
    "What to show next to the field"

    def __init__(self, message, field='amount'):
        super().__init__(message)
        self.field = field


def optional_model(name):
    "The model ``name``, or None when its module is not activated"
    try:
        return Pool().get(name)
    except KeyError:
        return None


def vouchers_available():
    return optional_model('telecom.voucher') is not None


def top_up_available():
    Payment = optional_model('account.payment')
    return Payment is not None and hasattr(Payment, 'top_up')


def redeem_voucher(account, code):
    Voucher = optional_model('telecom.voucher')
    if Voucher is None:
        raise Refused("Vouchers are not offered on this platform.")
    try:
        return Voucher.redeem(code, account)
    except UserError as exception:
        raise Refused(exception.message) from exception


def top_up_journal(account):
    """The payment journal of a top-up: the tenant's, in the account's
    currency; a card/PayPal gateway (Braintree) before direct debit."""
    Journal = optional_model('account.payment.journal')
    journals = Journal.search([
            ('company', '=', account.company.id),
            ('currency', '=', account.currency.id),
            ], order=[('id', 'ASC')])
    order = {'braintree': 0, 'sepa': 1}
    journals.sort(key=lambda j: order.get(j.process_method, 2))
    return journals[0] if journals else None


def _journal(account):
    if not top_up_available():
        raise Refused("Top-ups are not offered on this platform.")
    journal = top_up_journal(account)
    if journal is None:
        raise Refused(
            "Your provider has no payment method for top-ups in "
            f"{account.currency.code} yet: contact support.")
    return journal


def checkout(account):
    """What the top-up form shows to take the payment: None when the
    tenant collects top-ups otherwise than by Braintree, else a dict with
    the Drop-in's client token, the gateway's environment, the sandbox's
    test nonces and a new checkout id."""
    if not top_up_available():
        return None
    journal = top_up_journal(account)
    if journal is None or journal.process_method != 'braintree':
        return None
    merchant = journal.braintree_account
    try:
        token = merchant.gateway().client_token.generate()
    except Exception as exception:
        raise Refused("PayPal cannot be reached just now: try again in a "
            "few minutes.") from exception
    sandbox = merchant.environment == 'sandbox'
    return {
        'client_token': token,
        'sandbox': sandbox,
        'nonces': SANDBOX_NONCES if sandbox else [],
        'script': None if sandbox else DROPIN_SCRIPT,
        'checkout_id': secrets.token_hex(16),
        }


def start_top_up(account, amount, nonce=None, checkout_id=None,
        device_data=None):
    """Ask telecom_payment for a top-up of ``amount``; through Braintree,
    charge the payment method of ``nonce`` at once. Return the page to go
    to next; raise Refused (with the field to show it next to)."""
    Payment = Pool().get('account.payment')
    journal = _journal(account)
    if journal.process_method != 'braintree':
        try:
            Payment.top_up(account, journal, amount)
        except UserError as exception:
            raise Refused(exception.message) from exception
        return '/account?done=top-up'
    if not checkout_id or not CHECKOUT_ID.fullmatch(checkout_id):
        raise Refused("This form is incomplete: reload the page.")
    done = Payment.search([
            ('telecom_account', '=', account.id),
            ('braintree_checkout_id', '=', checkout_id),
            ])
    if done:
        # The same form again (or this request retried for its locks):
        # that payment's outcome, nothing charged again.
        payment, = done
    else:
        if not nonce or len(nonce) > 4096:
            raise Refused(
                "Choose how to pay.", field='payment_method_nonce')
        try:
            payment = Payment.top_up(account, journal, amount)
        except UserError as exception:
            raise Refused(exception.message) from exception
        payment.braintree_checkout_id = checkout_id
        payment.braintree_set_nonce(nonce, device_data or None)
        # Processing, and the sale now rather than from the queue as
        # Payment.process would: the customer waits for the gateway's
        # answer. (braintree_transact commits the payment with its sale,
        # as in Tryton.)
        Payment.proceed([payment])
        Payment.braintree_transact([payment])
        payment = Payment(payment.id)
    if payment.state == 'processing' and payment.braintree_transaction_id:
        # Settled already (PayPal, the sandbox's automatic settlement):
        # succeeded now and credited by telecom_payment; else by the pull
        # cron or the webhook later.
        Payment.braintree_pull([payment])
        payment = Payment(payment.id)
    return _outcome(payment)


def _outcome(payment):
    if payment.state == 'failed':
        raise Refused(
            f"The payment of {payment.amount} {payment.currency.code} was "
            f"declined: {payment.braintree_error_message or 'refused'}. "
            "Nothing was charged; choose another way to pay.")
    if payment.state == 'succeeded':
        return '/account?done=top-up-credited'
    return '/account?done=top-up'


# --- SEPA direct-debit mandates (account_payment_sepa) ------------------

def mandates_available():
    return optional_model('account.payment.sepa.mandate') is not None


def mandates(account):
    "The account's customer's mandates with the account's tenant"
    Mandate = optional_model('account.payment.sepa.mandate')
    if Mandate is None:
        return []
    return Mandate.search([
            ('party', '=', account.party.id),
            ('company', '=', account.company.id),
            ], order=[('id', 'DESC')])


def iban(form, name):
    "An IBAN as typed (spaces, any case), compacted, or Invalid"
    from stdnum import iban as stdnum_iban
    from stdnum.exceptions import ValidationError

    from .forms import Invalid, text
    value = text(form, name, required=True, max_length=50)
    try:
        return stdnum_iban.validate(value)
    except ValidationError:
        raise Invalid("This is not a valid IBAN: check each character "
            "against your bank statement (e.g. BE68 5390 0754 7034).")


def masked_iban(number):
    "The IBAN as the customer recognises it, the middle hidden"
    compact = number.replace(' ', '')
    return f'{compact[:4]} …{compact[-4:]}'


def sign_mandate(account, number, street, postal_code, city):
    """The customer's recurrent SEPA Core mandate to its account's tenant
    on the IBAN ``number`` (valid), signed today online: requested, then
    validated by the tenant's back office as any mandate received."""
    pool = Pool()
    BankAccount = pool.get('bank.account')
    Address = pool.get('party.address')
    Mandate = pool.get('account.payment.sepa.mandate')
    party, company = account.party, account.company
    with Transaction().set_context(company=company.id):
        address, = Address.create([{
                    'party': party.id, 'street': street,
                    'postal_code': postal_code, 'city': city}])
        bank_account, = BankAccount.create([{
                    'owners': [('add', [party.id])],
                    'numbers': [('create', [
                                {'type': 'iban', 'number': number}])],
                    }])
        count = Mandate.search([('company', '=', company.id),
                ('party', '=', party.id)], count=True)
        mandate, = Mandate.create([{
                    'party': party.id, 'company': company.id,
                    'address': address.id,
                    'account_number': bank_account.numbers[0].id,
                    'identification': f'{account.code}-{count + 1}',
                    'type': 'recurrent', 'scheme': 'CORE',
                    'signature_date': dt.date.today(),
                    }])
        Mandate.request([mandate])
    return mandate
