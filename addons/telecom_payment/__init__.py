# Prepaid money of the telecom suite: the balance ledger as accounting
# entries, top-ups (PayPal through Braintree, SEPA direct debit), vouchers
# and low-balance notices; see README.md here.
