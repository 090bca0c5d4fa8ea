# Prepaid money of the telecom suite: the balance ledger as accounting
# entries, top-ups (PayPal through Braintree, SEPA direct debit), vouchers
# and low-balance notices; see README.md here.
from trytond.pool import Pool


def register():
    Pool.register(module='telecom_payment', type_='model')
