"""The back office of `make demo` over JSON-RPC, as sao and a hostile
reseller call it: trytond's own server on a copy of the demo's SQLite
database. A write the server refuses — a record rule, a uniqueness, a
validation — leaves nothing behind."""
import base64
import os
import sqlite3

import httpx
import pytest

from .conftest import ROOT, copy_demo, free_port, serve, sqlite_env

PASSWORDS = {
    'admin': 'owner-demo-2026',
    'bluebell': 'bluebell-demo-2026',
    'corner': 'corner-demo-2026',
    }


class Session:
    "A back-office log-in over JSON-RPC"

    def __init__(self, url, login):
        self.url = url + 'demo/rpc/'
        self.client = httpx.Client(timeout=60)
        user_id, key, *_ = self.call('common.db.login', login,
            {'password': PASSWORDS[login]}, 'en')['result']
        self.client.headers['Authorization'] = 'Session ' + (
            base64.b64encode(f'{login}:{user_id}:{key}'.encode()).decode())

    def call(self, method, *params):
        response = self.client.post(
            self.url, json={'id': 1, 'method': method, 'params': params})
        response.raise_for_status()
        return response.json()

    def close(self):
        self.client.close()


@pytest.fixture(scope='module')
def backoffice(tmp_path_factory, demo_database):
    "trytond's server on a copy of the demo database: (url, database path)"
    db_path = tmp_path_factory.mktemp('db')
    copy_demo(demo_database, db_path)
    port = free_port()
    env = sqlite_env(db_path,
        TRYTOND_WEB__ROOT=os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        TRYTOND_WEB__LISTEN=f'127.0.0.1:{port}')
    url = f'http://127.0.0.1:{port}/'
    with serve([os.path.join(os.path.dirname(os.sys.executable), 'trytond'),
                '-c', os.path.join(ROOT, 'etc', 'trytond.conf'), '-d', 'demo'],
            env, url, db_path / 'trytond.log'):
        yield url, db_path / 'demo.sqlite'


@pytest.fixture
def session(backoffice):
    sessions = []

    def open_(login):
        sessions.append(Session(backoffice[0], login))
        return sessions[-1]
    yield open_
    for opened in sessions:
        opened.close()


def query(path, sql, *args):
    with sqlite3.connect(path) as connection:
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

