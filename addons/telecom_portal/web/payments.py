"""The portal's seam to telecom_payment (F31, F32): vouchers and top-ups.

telecom_payment owns the money: ``telecom.voucher.redeem(code, account)``
and ``account.payment.top_up(account, journal, amount)``. The portal only
asks and shows the answer. When telecom_payment is not activated, the pages
say the service is not offered instead of failing."""
from trytond.exceptions import UserError
from trytond.pool import Pool


class Refused(Exception):
    "What to show next to the field"


def _model(name):
    try:
        return Pool().get(name)
    except KeyError:
        return None


def vouchers_available():
    return _model('telecom.voucher') is not None


def top_up_available():
    Payment = _model('account.payment')
    return Payment is not None and hasattr(Payment, 'top_up')


def redeem_voucher(account, code):
    Voucher = _model('telecom.voucher')
    if Voucher is None:
        raise Refused("Vouchers are not offered on this platform.")
    try:
        return Voucher.redeem(code, account)
    except UserError as exception:
        raise Refused(exception.message) from exception


def top_up_journal(account):
    """The payment journal of a top-up: the tenant's, in the account's
    currency; a card/PayPal gateway (Braintree) before direct debit."""
    Journal = _model('account.payment.journal')
    journals = Journal.search([
            ('company', '=', account.company.id),
            ('currency', '=', account.currency.id),
            ], order=[('id', 'ASC')])
    order = {'braintree': 0, 'sepa': 1}
    journals.sort(key=lambda j: order.get(j.process_method, 2))
    return journals[0] if journals else None


def start_top_up(account, amount, host_url):
    """Ask telecom_payment for a top-up of ``amount``; return the page to
    go to next."""
    if not top_up_available():
        raise Refused("Top-ups are not offered on this platform.")
    Payment = Pool().get('account.payment')
    journal = top_up_journal(account)
    if journal is None:
        raise Refused(
            "Your provider has no payment method for top-ups in "
            f"{account.currency.code} yet: contact support.")
    try:
        Payment.top_up(account, journal, amount)
    except UserError as exception:
        raise Refused(exception.message) from exception
    return '/account?done=top-up'
