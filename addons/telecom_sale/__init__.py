# Products of the telecom suite: phones, services and minute packs sold
# once or by subscription, and the shop orders that become Tryton sales;
# see README.md here.
from trytond.pool import Pool


def register():
    Pool.register(module='telecom_sale', type_='model')
