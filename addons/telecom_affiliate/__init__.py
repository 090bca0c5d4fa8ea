# Affiliates of the telecom suite: a share of one customer's revenue
# credited to another account; see README.md here.
from trytond.pool import Pool


def register():
    Pool.register(module='telecom_affiliate', type_='model')
