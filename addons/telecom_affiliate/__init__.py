# Affiliates of the telecom suite: a share of one customer's (or
# reseller's) revenue credited to another account, through Tryton's
# commission module; see README.md here.
