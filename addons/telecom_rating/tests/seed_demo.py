"""Give the demo database of ``telecom demo-setup`` something to rate: a
customer of the owner on its own plan "CLI test plan", and three of its
calls (UK fixed, UK mobile, France — which has no rate). Prints the
customer's account code.

Run as ``python seed_demo.py CONFIG DATABASE`` by test_commands.py.
"""
import datetime as dt
import sys
from decimal import Decimal

from trytond import config
config.update_etc(sys.argv[1])
from trytond.pool import Pool  # noqa: E402
from trytond.transaction import Transaction  # noqa: E402

database = sys.argv[2]
pool = Pool(database)
pool.init()
with Transaction().start(database, 0) as transaction:
    Company = pool.get('company.company')
    Account = pool.get('telecom.account')
    Plan = pool.get('telecom.rate.plan')
    Cdr = pool.get('telecom.cdr')
    Party = pool.get('party.party')
    owner, = Company.search([('parent', '=', None)])
    with transaction.set_context(company=owner.id):
        party, = Party.create([{'name': "CLI Test Customer"}])
        acme, = Account.create([{
                    'party': party.id, 'company': owner.id,
                    'currency': owner.currency.id}])
    plan, = Plan.create([{
                'name': "CLI test plan", 'company': owner.id,
                'currency': owner.currency.id,
                'rates': [('create', [
                            {'prefix': '44', 'destination': "UK",
                                'price': Decimal('0.02')},
                            {'prefix': '447', 'destination': "UK mobile",
                                'price': Decimal('0.10')}])]}])
    Account.write([acme], {'rate_plans': [('add', [plan.id])]})
    start = dt.datetime(2026, 3, 2, 10, 0)
    Cdr.ingest([{
                'call_id': f'c{i}', 'account': acme.id, 'callee': callee,
                'start': start, 'duration': 60}
            for i, callee in enumerate(
                ['442071234567', '447700900123', '33123456789'])])
    transaction.commit()
    print(acme.code)
