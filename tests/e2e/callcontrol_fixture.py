"""Create a database for the call-control tests and print its keys as JSON.

Run as a subprocess (trytond's configuration is process-wide):
    python -m tests.e2e.callcontrol_fixture [--activated] CONFIG DATABASE
with TRYTOND_DATABASE__URI / __PATH set. The database is created if
missing, the suite activated, and the accounts below loaded.

``CALLCONTROL_GATEWAYS=host:port,host:port`` sets the gateways of the
carriers Alpha and Beta (default 127.0.0.1:5071 and 127.0.0.1:5072): the
Kamailio tests point them at their sipp carriers.

Activating the suite takes most of a minute, so the activated (empty)
database is kept as a template keyed by the modules' sources — a
PostgreSQL template database, a copied SQLite file — and later databases
are cloned from it in a second. The SQLite file lives in
TELECOM_TEST_CACHE (the Makefile's var/cache/<sources hash>, inside the
clone) or else in the temporary folder. The PostgreSQL templates are named
after this working tree and the sources; a tree drops its own templates of
older sources, never another tree's.
"""
import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from decimal import Decimal

from tests.fixtures import TREE, pg_clone, pg_template, sources_hash

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
# Of this working tree: runs of other trees keep their own templates.
TEMPLATE_PREFIX = f'cc_tpl_{TREE}_'


def activate(config, database):
    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('callcontrol-admin-2026')
        passfile.flush()
        env = {**os.environ, 'TRYTONPASSFILE': passfile.name}
        for args in (['--all', '--email', 'admin@example.net'],
                ['--activate-dependencies', '-u', 'telecom_switch']):
            subprocess.run([admin, '-c', config, '-d', database, *args],
                check=True, env=env, stdout=subprocess.DEVNULL)


def create_database(config, database):
    from trytond import backend
    from trytond import config as tryton_config
    tryton_config.update_etc(config)
    key = sources_hash()
    if backend.name == 'sqlite':
        path = tryton_config.get('database', 'path')
        os.makedirs(path, exist_ok=True)
        target = os.path.join(path, database + '.sqlite')
        cache = os.environ.get('TELECOM_TEST_CACHE') or os.path.join(
            tempfile.gettempdir(), 'telecom-cc-templates')
        template = os.path.join(cache, key + '.sqlite')
        os.makedirs(cache, exist_ok=True)
        # One process builds it; the others (make test's parts) wait.
        with open(template + '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(template):
                open(target, 'a').close()
                activate(config, database)
                partial = f'{template}.{uuid.uuid4().hex}'
                shutil.copyfile(target, partial)
                os.replace(partial, template)
                return
        shutil.copyfile(template, target)
        return
    uri = tryton_config.get('database', 'uri').rstrip('/')
    template = pg_template(uri, TEMPLATE_PREFIX, key,
        lambda building: activate(config, building))
    pg_clone(uri, template, database)


def load(database, gateways=('127.0.0.1:5071', '127.0.0.1:5072')):
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
                                {'address': gateways[0]}])],
                    'rates': [('create', [
                                {'prefix': '44', 'price': Decimal('0.01')},
                                {'prefix': '447', 'price': Decimal('0.05')},
                                ])]}, {
                    'name': "Beta", 'code': 'beta', 'company': owner.id,
                    'currency': eur.id, 'tech_prefix': '99',
                    'gateways': [('create', [
                                {'address': gateways[1]}])],
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
        # Behind Kamailio (no digest authentication): found by the address
        # the customer's sipp sends from.
        account('kam-post', owner, retail, [
                {'kind': 'ip', 'network': '127.0.0.11/32'}])
        account('kam-lim', owner, retail, [
                {'kind': 'ip', 'network': '127.0.0.12/32'}],
            max_outbound=1)
        kam_pre = account('kam-pre', owner, retail, [
                {'kind': 'ip', 'network': '127.0.0.13/32'}],
            billing_mode='prepaid')
        # 0.03 EUR at 0.60 a minute: 3 seconds.
        BalanceLine.add_movements([{
                    'account': kam_pre.id, 'amount': Decimal('0.03'),
                    'kind': 'topup', 'description': "Top-up"}])
        # Slices (issue 15's defect 9) behind Kamailio: 0.75 EUR at 0.60
        # a minute is 75 seconds, shared by up to 5 calls at once.
        kam_many = account('kam-many', owner, retail, [
                {'kind': 'ip', 'network': '127.0.0.14/32'}],
            billing_mode='prepaid', max_outbound=5)
        BalanceLine.add_movements([{
                    'account': kam_many.id, 'amount': Decimal('0.75'),
                    'kind': 'topup', 'description': "Top-up"}])
        # Inbound (F5, issue 15's defect 7): a DID and a SIP address with
        # letters that ring the reception line's phone, and a trunk's DID.
        desk = account('desk', owner, retail, [sip('desk-user')],
            ['+442071230002'])
        Line = pool.get('telecom.line')
        reception, = Line.create([{'account': desk.id, 'name': "Reception"}])
        pool.get('telecom.credential').create([{
                    'account': desk.id, 'line': reception.id,
                    **sip('desk-phone')}])
        pool.get('telecom.number').write(
            list(desk.numbers), {'line': reception.id})
        pool.get('telecom.sip_address').create([{
                    'account': desk.id, 'line': reception.id,
                    'address': 'reception@sip.example.net'}])
        account('in-trunk', owner, retail, [sip('in-trunk-user')],
            ['+442071230003'], flavour='wholesale')
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
    # --activated: the activated database only, without the accounts (for
    # other tests that want the suite activated and bring their own data).
    activated_only = '--activated' in sys.argv
    config, database = [a for a in sys.argv[1:] if a != '--activated'][:2]
    if activated_only:
        create_database(config, database)
        return
    gateways = os.environ.get('CALLCONTROL_GATEWAYS')
    gateways = (gateways.split(',') if gateways
        else ('127.0.0.1:5071', '127.0.0.1:5072'))
    create_database(config, database)
    print(json.dumps(load(database, gateways)))


if __name__ == '__main__':
    main()
