# Billing of the telecom suite: recurring charges, feature extras and rated
# usage turned into Tryton draft invoices per tenant; see README.md here.
