"""Create a database for the call-control tests and print its keys as JSON.

Run as a subprocess (trytond's configuration is process-wide):
    python -m tests.e2e.callcontrol_fixture CONFIG DATABASE
with TRYTOND_DATABASE__URI / __PATH set. The database is created if
missing, the suite activated, and the accounts below loaded.
"""
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal


def create_database(config, database):
    from trytond import backend
    from trytond import config as tryton_config
    tryton_config.update_etc(config)
    if backend.name == 'sqlite':
        path = tryton_config.get('database', 'path')
        os.makedirs(path, exist_ok=True)
        open(os.path.join(path, database + '.sqlite'), 'a').close()
    else:
        uri = tryton_config.get('database', 'uri').rstrip('/')
        subprocess.run(
            ['psql', uri + '/postgres', '-qc',
                f'CREATE DATABASE "{database}"'],
            check=True, capture_output=True)
    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('callcontrol-admin-2026')
        passfile.flush()
        env = {**os.environ, 'TRYTONPASSFILE': passfile.name}
        for args in (['--all', '--email', 'admin@example.net'],
                ['--activate-dependencies', '-u', 'telecom_switch']):
            subprocess.run([admin, '-c', config, '-d', database, *args],
                check=True, env=env, stdout=subprocess.DEVNULL)


def load(database):
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    pool.init()
    keys = {}
    with Transaction().start(database, 0) as transaction:
        Currency = pool.get('currency.currency')
        Rate = pool.get('currency.currency.rate')
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        Plan = pool.get('telecom.rate.plan')
        Account = pool.get('telecom.account')
        Carrier = pool.get('telecom.carrier')
        Policy = pool.get('telecom.routing.policy')
        Switch = pool.get('telecom.switch')
        BalanceLine = pool.get('telecom.balance.line')

        Country = pool.get('country.country')
        gb, = Country.create([{'name': "United Kingdom", 'code': 'GB'}])
        eur, = Currency.create([{
                    'name': "Euro", 'code': 'EUR', 'symbol': '€',
                    'digits': 2, 'rounding': Decimal('0.01')}])
        Rate.create([{'currency': eur.id, 'date': dt.date(2020, 1, 1),
                    'rate': Decimal(1)}])

        def company(name, parent=None):
            party, = Party.create([{'name': name}])
            record, = Company.create([{
                        'party': party.id, 'currency': eur.id,
                        'parent': parent.id if parent else None}])
            return record
        owner = company("Owner")
        r1 = company("Reseller One", owner)

        retail, = Plan.create([{
                    'name': "Retail", 'company': owner.id,
                    'currency': eur.id, 'decimals': 4,
                    'rates': [('create', [
                                {'prefix': '44', 'price': Decimal('0.60')},
                                {'prefix': '447', 'price': Decimal('1.20'),
                                    'increment_first': 60,
                                    'increment_next': 60},
                                ])]}])
        r1_plan, = Plan.create([{
                    'name': "R1 retail", 'company': r1.id,
                    'currency': eur.id, 'parent': retail.id,
                    'markups': [('create', [
                                {'percent': Decimal(50)}])]}])
        alpha, beta = Carrier.create([{
                    'name': "Alpha", 'code': 'alpha', 'company': owner.id,
                    'currency': eur.id,
                    'gateways': [('create', [
                                {'address': '127.0.0.1:5071'}])],
                    'rates': [('create', [
                                {'prefix': '44', 'price': Decimal('0.01')},
                                {'prefix': '447', 'price': Decimal('0.05')},
                                ])]}, {
                    'name': "Beta", 'code': 'beta', 'company': owner.id,
                    'currency': eur.id, 'tech_prefix': '99',
                    'gateways': [('create', [
                                {'address': '127.0.0.1:5072'}])],
                    'rates': [('create', [
                                {'prefix': '44', 'price': Decimal('0.02')},
                                ])]}])
        Policy.create([{'plan': retail.id, 'strategy': 'least-cost'}])

        def account(code, tenant, plan, credentials=(), numbers=(),
                **values):
            party, = Party.create([{'name': code, 'tenant': tenant.id}])
            record, = Account.create([{
                        'party': party.id, 'company': tenant.id,
                        'currency': eur.id, 'country': gb.id,
                        'national_prefix': '0',
                        'international_prefix': '00',
                        'rate_plans': [('add', [plan.id])],
                        'credentials': [('create', list(credentials))],
                        'numbers': [('create', [
                                    {'number': n} for n in numbers])],
                        **values}])
            keys[code] = record.code
            return record

        def sip(user):
            return {'kind': 'sip', 'username': user,
                'realm': 'sip.example.net', 'password': user + '-secret'}

        account('postpaid', owner, retail, [sip('pp-user')])
        account('limited', owner, retail, [sip('lim-user')],
            ['+442071230001'], max_outbound=2)
        prepaid = account('prepaid', owner, retail, [sip('pre-user')],
            billing_mode='prepaid')
        BalanceLine.add_movements([{
                    'account': prepaid.id, 'amount': Decimal('1.00'),
                    'kind': 'topup', 'description': "Top-up"}])
        account('many', owner, retail, [sip('many-user')],
            billing_mode='prepaid')
        BalanceLine.add_movements([{
                    'account': Account.search(
                        [('code', '=', keys['many'])])[0].id,
                    'amount': Decimal('10.00'), 'kind': 'topup'}])
        suspended = account('suspended', owner, retail, [sip('sus-user')])
        Account.suspend([suspended])
        account('trunk', owner, retail, [
                {'kind': 'ip', 'network': '198.51.100.0/28'},
                {'kind': 'prefix', 'tech_prefix': '7301'}],
            flavour='wholesale')
        account('crowd', owner, retail, [sip('crowd-user')], max_total=5)
        account('charged', owner, retail, [sip('chg-user')],
            max_outbound=1, over_limit='charge',
            over_limit_price=Decimal('0.10'))
        r1_account = account('r1-account', owner, retail)
        Account.write([r1_account], {'reseller': r1.id})
        account('r1cust', r1, r1_plan, [sip('r1-user')])

        owner_switch, r1_switch = Switch.create([
                {'name': "Owner proxy", 'code': 'owner-proxy',
                    'company': owner.id,
                    'emergency_gateway': 'sip:127.0.0.1:5079'},
                {'name': "R1 proxy", 'code': 'r1-proxy', 'company': r1.id},
                ])
        keys['owner_key'] = Switch.generate_key([owner_switch])[
            owner_switch.id]
        keys['r1_key'] = Switch.generate_key([r1_switch])[r1_switch.id]
        keys['alpha'] = alpha.id
        keys['beta'] = beta.id
        keys['retail'] = retail.id
        transaction.commit()
    return keys


def main():
    config, database = sys.argv[1:3]
    create_database(config, database)
    print(json.dumps(load(database)))


if __name__ == '__main__':
    main()
