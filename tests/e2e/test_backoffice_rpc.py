"""The back office of `make demo` over JSON-RPC, as sao and a hostile
reseller call it: trytond's own server on a copy of the demo's SQLite
database (or of its PostgreSQL twin, for the attacker's suite). A write the
server refuses — a record rule, a uniqueness, a validation — leaves nothing
behind."""
import base64
import functools
import os
import sqlite3
import uuid
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from tests.fixtures import (
    PG_URI, demo_database_postgresql, pg_clone, postgresql_env, psql)

from .conftest import BIN, ROOT, copy_demo, free_port, serve, sqlite_env

PASSWORDS = {
    'admin': 'owner-demo-2026',
    'bluebell': 'bluebell-demo-2026',
    'corner': 'corner-demo-2026',
    'support': 'support-demo-2026',
    }


class Session:
    "A back-office log-in over JSON-RPC"

    def __init__(self, url, login):
        "``url``: the database's, as the fixtures below give it"
        self.url = url + 'rpc/'
        self.client = httpx.Client(timeout=60)
        self.calls = 0
        user_id, key, *_ = self.call('common.db.login', login,
            {'password': PASSWORDS[login]}, 'en')['result']
        self.client.headers['Authorization'] = 'Session ' + (
            base64.b64encode(f'{login}:{user_id}:{key}'.encode()).decode())

    def call(self, method, *params):
        self.calls += 1
        response = self.client.post(
            self.url, json={'id': 1, 'method': method, 'params': params})
        if response.status_code == 403:
            # Refused before the method ran (no access to the model).
            return {'error': 'Forbidden'}
        response.raise_for_status()
        return response.json()

    def close(self):
        self.client.close()


class PgDatabase(str):
    "The name of a PostgreSQL database, for :func:`query`"


@contextmanager
def serve_backoffice(db_path, env, database='demo'):
    """trytond's server with sao in ``env`` on a free port: the url of
    ``database``"""
    port = free_port()
    env = {**env,
        'TRYTOND_WEB__ROOT': os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        'TRYTOND_WEB__LISTEN': f'127.0.0.1:{port}'}
    url = f'http://127.0.0.1:{port}/'
    with serve([os.path.join(BIN, 'trytond'),
                '-c', os.path.join(ROOT, 'etc', 'trytond.conf'),
                '-d', database],
            env, url, db_path / 'trytond.log'):
        yield url + database + '/'


@contextmanager
def backoffice_sqlite(tmp_path_factory, demo_database):
    "trytond's server on a copy of the demo database: (url, database path)"
    db_path = tmp_path_factory.mktemp('db')
    copy_demo(demo_database, db_path)
    with serve_backoffice(db_path, sqlite_env(db_path)) as url:
        yield url, db_path / 'demo.sqlite'


@pytest.fixture(scope='module')
def backoffice(tmp_path_factory, demo_database):
    with backoffice_sqlite(tmp_path_factory, demo_database) as served:
        yield served


@contextmanager
def backoffice_postgresql(tmp_path_factory):
    """trytond's server on a PostgreSQL copy of the demo database: (url,
    database), dropped at the end"""
    database = PgDatabase(f'demo_{uuid.uuid4().hex[:8]}')
    pg_clone(PG_URI, demo_database_postgresql(), database)
    try:
        with serve_backoffice(tmp_path_factory.mktemp('pg'),
                postgresql_env(), database) as url:
            yield url, database
    finally:
        _connect.cache_clear()
        psql(PG_URI, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
            check=False)


@pytest.fixture
def session(backoffice):
    sessions = []

    def open_(login):
        sessions.append(Session(backoffice[0], login))
        return sessions[-1]
    yield open_
    for opened in sessions:
        opened.close()


# A failed query of either backend.
DATABASE_ERRORS = (sqlite3.Error, psycopg.Error)


@functools.lru_cache
def _connect(database):
    return psycopg.connect(f'{PG_URI}/{database}', autocommit=True)


def query(database, sql, *args):
    """Rows of ``sql`` (``?`` placeholders) in ``database``: the path of a
    SQLite file or a :class:`PgDatabase`"""
    if isinstance(database, PgDatabase):
        return _connect(database).execute(
            sql.replace('?', '%s'), args).fetchall()
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, args).fetchall()


def test_refused_writes_leave_nothing(backoffice, session):
    "What a record rule, a uniqueness or a validation refuses is not kept"
    path = backoffice[1]
    (wholesale,), = query(path,
        "SELECT id FROM telecom_rate_plan WHERE name = 'Northwind Wholesale'")
    (rosa,), = query(path,
        "SELECT a.id FROM telecom_account a JOIN party_party p"
        " ON p.id = a.party WHERE p.name = 'Rosa Martin'")
    (toms,), = query(path,
        "SELECT a.id FROM telecom_account a JOIN party_party p"
        " ON p.id = a.party WHERE p.name = 'Tom''s Taxis'")
    rates = query(path, "SELECT COUNT(*) FROM telecom_rate")
    bluebell, corner = session('bluebell'), session('corner')

    # A rate on the owner's wholesale plan: refused by the plan's rule.
    result = bluebell.call('model.telecom.rate.create', [{
                'plan': wholesale, 'prefix': '999', 'destination': "Mine",
                'price': {'__class__': 'Decimal', 'decimal': '0'},
                'increment_first': 1, 'increment_next': 1}], {})
    assert 'error' in result, result
    # The owner customer's SIP user and number: refused as taken.
    result = corner.call('model.telecom.credential.create', [{
                'account': toms, 'kind': 'sip', 'username': 'globex-trunk',
                'realm': 'sip.example.net', 'password': 'x-Secret-2026'}],
        {})
    assert 'error' in result, result
    result = bluebell.call('model.telecom.number.create', [{
                'account': rosa, 'number': '+442079460000'}], {})
    assert 'error' in result, result
    # A validation: a negative credit limit on its own customer.
    result = bluebell.call('model.telecom.account.write', [rosa],
        {'credit_limit': {'__class__': 'Decimal', 'decimal': '-1'}}, {})
    assert 'error' in result, result

    assert query(path, "SELECT COUNT(*) FROM telecom_rate") == rates
    assert query(path, "SELECT COUNT(*) FROM telecom_credential"
        " WHERE claim = 'globex-trunk'") == [(1,)]
    assert query(path, "SELECT COUNT(*) FROM telecom_number"
        " WHERE number LIKE '%442079460000'") == [(1,)]
    assert query(path, "SELECT COUNT(*) FROM telecom_account"
        " WHERE credit_limit < 0") == [(0,)]


def refused(result):
    "Whether the server refused the call (an access error)"
    return 'error' in result


@pytest.mark.parametrize('login', ['bluebell', 'corner'])
def test_portal_log_ins_unreadable_by_resellers(backoffice, session, login):
    """No reseller reads, finds, exports or counts portal log-ins: their
    e-mails, hashes, validation and reset tokens (Corner signed in as a
    Bluebell customer with a token it read)"""
    user = session(login)
    calls = [
        ('model.web.user.search', [], 0, None, None, {}),
        ('model.web.user.search_count', [], {}),
        ('model.web.user.search_read', [], 0, None, None,
            ['email', 'email_token'], {}),
        ('model.web.user.read', [1, 2, 3], ['email', 'email_token'], {}),
        ('model.web.user.export_data', [1], ['email', 'email_token'], {}),
        ('model.web.user.session.search_read', [], 0, None, None,
            ['key'], {}),
        ('model.web.user.authenticate.attempt.search_count', [], {}),
        ]
    for method, *params in calls:
        assert refused(user.call(method, *params)), method


def test_portal_secrets_unreadable_by_administrator(backoffice, session):
    "The administrator manages log-ins but reads no hash nor token"
    admin = session('admin')
    result = admin.call('model.web.user.search_read', [], 0, None, None,
        ['email'], {})
    assert result['result'], result
    for field in ['password_hash', 'email_token', 'reset_password_token']:
        assert refused(admin.call('model.web.user.search_read', [], 0, None,
                None, [field], {})), field
        assert refused(admin.call('model.web.user.search_count',
                [(field, '!=', None)], {})), field


def test_reseller_cannot_bill_its_parent(backoffice, session):
    """"Invoice a Period" given the owner's company is refused and makes
    no invoice (Bluebell made the owner's draft invoices)"""
    path = backoffice[1]
    (owner,), = query(path,
        "SELECT id FROM company_company WHERE parent IS NULL")
    invoices = query(path, "SELECT COUNT(*) FROM account_invoice")
    bluebell = session('bluebell')
    wizard, *_ = bluebell.call(
        'wizard.telecom.billing.run.create.create', {})['result']
    date = {'__class__': 'date', 'year': 2026, 'month': 11, 'day': 1}
    end = {'__class__': 'date', 'year': 2026, 'month': 11, 'day': 30}
    result = bluebell.call('wizard.telecom.billing.run.create.execute',
        wizard, {'start': {'company': owner, 'start_date': date,
                'end_date': end, 'invoice_date': end}}, 'bill', {})
    assert refused(result), result
    assert query(path, "SELECT COUNT(*) FROM account_invoice") == invoices


def test_staff_credit_within_the_wall(backoffice, session):
    """A reseller's staff top up their own customers only: Bluebell's top-up
    wizard aimed at the owner's customer is refused and moves nothing"""
    path = backoffice[1]
    ids = dict(query(path, "SELECT p.name, a.id FROM telecom_account AS a "
            "JOIN party_party AS p ON p.id = a.party"))
    movements = query(path, "SELECT COUNT(*) FROM telecom_balance_line")
    bluebell = session('bluebell')

    def context(name):
        return {'active_model': 'telecom.account',
            'active_id': ids[name], 'active_ids': [ids[name]]}
    assert refused(bluebell.call(
            'wizard.telecom.account.credit.create',
            context("Globex Wholesale")))
    # A session opened on its own customer, then aimed at the owner's.
    wizard, *_ = bluebell.call('wizard.telecom.account.credit.create',
        context("Rosa Martin"))['result']
    result = bluebell.call('wizard.telecom.account.credit.execute', wizard,
        {'start': {'kind': 'topup', 'amount': {
                        '__class__': 'Decimal', 'decimal': '10'},
                'reason': "Cash"}}, 'credit', context("Globex Wholesale"))
    assert refused(result), result
    assert query(path,
        "SELECT COUNT(*) FROM telecom_balance_line") == movements


@pytest.mark.parametrize('wizard', [
        'telecom.cdr.rate', 'telecom.carrier.quality.refresh'])
def test_platform_wizards_are_the_owners(backoffice, session, wizard):
    "Rating and quality statistics run for the whole platform: not resellers'"
    bluebell = session('bluebell')
    assert refused(bluebell.call(f'wizard.{wizard}.create', {}))
    result = bluebell.call('model.ir.action.wizard.search_count',
        [('wiz_name', '=', wizard)], {})
    assert result.get('result', 0) == 0, result
    admin = session('admin')
    assert 'result' in admin.call(f'wizard.{wizard}.create', {})


def test_company_context_of_the_owner(backoffice, session):
    """With the owner's company in its context a reseller neither reads nor
    writes the owner's company-dependent configuration"""
    path = backoffice[1]
    (owner,), = query(path,
        "SELECT id FROM company_company WHERE parent IS NULL")
    before = query(path,
        "SELECT id, usage_product FROM telecom_billing_configuration_product"
        " ORDER BY id")
    (product,), = query(path,
        "SELECT id FROM product_product ORDER BY id DESC LIMIT 1")
    bluebell = session('bluebell')
    context = {'company': owner}
    assert refused(bluebell.call('model.telecom.billing.configuration.read',
            [1], ['usage_product'], context))
    assert refused(bluebell.call('model.telecom.billing.configuration.write',
            [1], {'usage_product': product}, context))
    assert query(path,
        "SELECT id, usage_product FROM telecom_billing_configuration_product"
        " ORDER BY id") == before
