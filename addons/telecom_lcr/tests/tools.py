"""Routing fixtures on top of telecom_rating's: two carriers of the owner,
Alpha (cheap fixed lines, dear mobiles) and Beta (the other way round), and
a least-cost policy on the owner's wholesale plan."""
from decimal import Decimal

from trytond.pool import Pool


def create_carriers(t):
    pool = Pool()
    Carrier = pool.get('telecom.carrier')
    Policy = pool.get('telecom.routing.policy')
    t.alpha, t.beta = Carrier.create([{
                'name': "Alpha", 'code': 'alpha', 'company': t.owner.id,
                'currency': t.currency.id, 'tech_prefix': '101',
                'gateways': [('create', [{'address': 'alpha.example:5060'}])],
                'rates': [('create', [
                            {'prefix': '44', 'price': Decimal('0.0100')},
                            {'prefix': '447', 'price': Decimal('0.0500')},
                            ])],
                }, {
                'name': "Beta", 'code': 'beta', 'company': t.owner.id,
                'currency': t.currency.id, 'strip_digits': 2,
                'add_prefix': '0',
                'gateways': [('create', [{'address': 'beta.example'}])],
                'rates': [('create', [
                            {'prefix': '44', 'price': Decimal('0.0150')},
                            {'prefix': '447', 'price': Decimal('0.0300')},
                            ])],
                }])
    t.policy, = Policy.create([{
                'plan': t.owner_plan.id, 'strategy': 'least-cost'}])
    return t
