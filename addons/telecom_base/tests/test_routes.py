"""Isolation and bad input through the interfaces a client really uses:
JSON-RPC (the back office, sao) and the REST API (integrations)."""
import base64
import json
from http import HTTPStatus

from trytond.pool import Pool
from trytond.tests.test_tryton import RouteTestCase

from .tools import create_tenancy


class TelecomRoutesTestCase(RouteTestCase):
    "Test telecom_base over JSON-RPC and REST"
    module = 'telecom_base'

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Application = pool.get('res.user.application')
        Number = pool.get('telecom.number')
        t = create_tenancy()
        cls.number_ids = [n.id for n in Number.create([
                {'account': t.owner_customer.id, 'number': '+12025550101'},
                {'account': t.r2_customer.id, 'number': '+12025550102'},
                {'account': t.r3_customer.id, 'number': '+12025550103'},
                ])]
        application = Application(user=t.r1_user, application='rest')
        application.save()
        Application.validate_([application])
        cls.key = application.key
        cls.ids = {
            name: getattr(t, name).id for name in [
                'owner_customer', 'r1_customer', 'r2_customer',
                'r3_customer', 'r1_account']}
        cls.company_ids = {
            name: getattr(t, name).id for name in ['owner', 'r1', 'r2', 'r3']}
        cls.party_ids = {
            'owner': t.owner.party.id, 'r3': t.r3_customer.party.id}
        cls.codes = {
            name: getattr(t, name).code for name in [
                'owner_customer', 'r1_customer', 'r2_customer',
                'r3_customer']}

    # JSON-RPC, as sao does it
    def rpc(self, client, method, *params, session=None):
        headers = {}
        if session:
            headers['Authorization'] = 'Session ' + base64.b64encode(
                f'{session[0]}:{session[1]}:{session[2]}'.encode()).decode()
        response = client.post(
            f'/{self.db_name}/rpc/', headers=headers,
            json={'id': 1, 'method': method, 'params': list(params)})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        return response.json

    def login(self, client, login):
        result = self.rpc(
            client, 'common.db.login', login,
            {'password': f'{login}-Secret-Passw0rd'}, 'en')
        user_id, key, *_ = result['result']
        return (login, user_id, key)

    def test_rpc_reseller_sees_subtree(self):
        "Over JSON-RPC a reseller reads only its subtree"
        client = self.client()
        session = self.login(client, 'r1admin')

        result = self.rpc(
            client, 'model.telecom.account.search_read',
            [], 0, None, [['code', 'ASC']], ['code'], {}, session=session)
        self.assertEqual(
            [r['code'] for r in result['result']],
            sorted([self.codes['r1_customer'], self.codes['r2_customer']]))

        result = self.rpc(
            client, 'model.telecom.account.search_count', [], {},
            session=session)
        self.assertEqual(result['result'], 2)

        result = self.rpc(
            client, 'model.telecom.number.search_read',
            [], 0, None, None, ['number'], {}, session=session)
        numbers = {r['number'] for r in result['result']}
        self.assertIn('12025550102', numbers)
        self.assertFalse(numbers & {'12025550101', '12025550103'})

        for name in ['owner_customer', 'r3_customer', 'r1_account']:
            with self.subTest(account=name):
                result = self.rpc(
                    client, 'model.telecom.account.read',
                    [self.ids[name]], ['code'], {}, session=session)
                self.assertIn('error', result)
                self.assertNotIn(
                    self.codes.get(name, 'x' * 9), json.dumps(result))

        result = self.rpc(
            client, 'model.party.party.read',
            [self.party_ids['owner']], ['name'], {}, session=session)
        self.assertIn('error', result)
        self.assertNotIn("Owner Telecom", json.dumps(result))

    def test_rpc_sub_reseller_sees_own_only(self):
        "Over JSON-RPC a sub-reseller sees none of its parent's customers"
        client = self.client()
        session = self.login(client, 'r2admin')
        result = self.rpc(
            client, 'model.telecom.account.search_read',
            [], 0, None, None, ['code'], {}, session=session)
        self.assertEqual(
            [r['code'] for r in result['result']],
            [self.codes['r2_customer']])
        result = self.rpc(
            client, 'model.party.party.search_read',
            [], 0, None, [['name', 'ASC']], ['name'], {}, session=session)
        self.assertEqual(
            [r['name'] for r in result['result']],
            ["R2 Customer", "Sub Reseller Two"])

    def test_rpc_export_follows_rules(self):
        """export_data checks the rules a model follows through its account
        (__access__): a reseller exported others' numbers by id"""
        client = self.client()
        session = self.login(client, 'r1admin')
        owner, own, r3 = self.number_ids
        for ids, fields in [
                ([owner], ['number']), ([r3], ['number']),
                ([own, r3], ['number']),
                ]:
            with self.subTest(ids=ids):
                result = self.rpc(
                    client, 'model.telecom.number.export_data', ids, fields,
                    {}, session=session)
                self.assertIn('error', result)
                self.assertNotIn('12025550101', json.dumps(result))
                self.assertNotIn('12025550103', json.dumps(result))
        result = self.rpc(
            client, 'model.telecom.number.export_data', [own], ['number'],
            {}, session=session)
        self.assertEqual(result['result'], [['12025550102']])

    def test_rpc_search_through_relations_scoped(self):
        """A search through a relational field finds nothing the caller
        cannot read: Corner found its parents' names letter by letter"""
        client = self.client()
        session = self.login(client, 'r2admin')
        for model, domain in [
                ('res.user', [('company.party.name', '=', 'Owner Telecom')]),
                ('res.user', [('company', 'ilike', 'Owner%')]),
                ('res.user', [('company', 'where',
                            [('party.name', 'like', 'Reseller One')])]),
                ('res.user', [('companies.party.name', 'like', 'Reseller%')]),
                ('telecom.account', [
                        ('party', 'not where', [('name', 'like', 'R2%')])]),
                ]:
            with self.subTest(model=model, domain=domain):
                result = self.rpc(
                    client, f'model.{model}.search_count', domain, {},
                    session=session)
                self.assertEqual(result.get('result', 0), 0, result)
        # The caller's own records are still found through relations.
        result = self.rpc(
            client, 'model.telecom.account.search_count',
            [('party.name', '=', 'R2 Customer')], {}, session=session)
        self.assertEqual(result['result'], 1)

    def test_rpc_company_context_of_another_company(self):
        """A reseller cannot work in its parent's name through the context
        (it read and replaced the owner's company-dependent values)"""
        client = self.client()
        session = self.login(client, 'r1admin')
        for company in [self.company_ids['owner'], self.company_ids['r3']]:
            with self.subTest(company=company):
                result = self.rpc(
                    client, 'model.telecom.account.search_read', [], 0,
                    None, None, ['code'], {'company': company},
                    session=session)
                self.assertIn('error', result)
        # Its own company and its sub-reseller's stay usable.
        for company in [self.company_ids['r1'], self.company_ids['r2']]:
            result = self.rpc(
                client, 'model.telecom.account.search_count', [],
                {'company': company}, session=session)
            self.assertIn('result', result)

    # REST, as an integration does it
    @property
    def headers(self):
        return {'Authorization': f'bearer {self.key}'}

    def rest(self, method, path, **kwargs):
        client = self.client()
        return getattr(client, method)(
            f'/{self.db_name}/rest/model/{path}', headers=self.headers,
            **kwargs)

    def test_rest_reseller_sees_subtree(self):
        "Over REST a reseller lists, counts and reads only its subtree"
        response = self.rest('get', 'telecom.account', query_string={
                'f': ['code']})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertEqual(
            sorted(r['code'] for r in response.json),
            sorted([self.codes['r1_customer'], self.codes['r2_customer']]))

        response = self.client().get(
                f'/{self.db_name}/rest/model/telecom.account',
                headers={**self.headers, 'Range': 'records=0-10'})
        self.assertEqual(
            response.headers['Content-Range'], 'records 0-2/2')

        for name in ['owner_customer', 'r3_customer']:
            with self.subTest(account=name):
                response = self.rest(
                    'get', f'telecom.account/{self.ids[name]}')
                self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        response = self.rest('get', f'party.party/{self.party_ids["r3"]}')
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)

        response = self.rest('get', 'telecom.number', query_string={
                'f': ['number']})
        numbers = {r['number'] for r in response.json}
        self.assertIn('12025550102', numbers)
        self.assertFalse(numbers & {'12025550101', '12025550103'})

    def test_rest_bad_input_changes_nothing(self):
        "A refused number over REST names the field and saves nothing"
        before = len(self.rest('get', 'telecom.number').json)
        for number, expected in [
                ('+12025550103', 'another customer of the platform'),
                ('+1 202 555', 'possible length'),
                ('12ab', 'other than digits'),
                ]:
            with self.subTest(number=number):
                response = self.rest(
                    'post', 'telecom.number',
                    json={'account': self.ids['r1_customer'],
                        'number': number})
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                self.assertIn('Number', response.text)
                self.assertIn(expected, response.text)
                self.assertNotIn('R3', response.text)
        self.assertEqual(len(self.rest('get', 'telecom.number').json), before)

        response = self.rest(
            'post', 'telecom.number',
            json={'account': self.ids['r1_customer'],
                'number': '+12025550199'})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertEqual(
            len(self.rest('get', 'telecom.number').json), before + 1)

    def test_rest_cannot_write_other_tenant(self):
        "Over REST a reseller cannot change another tenant's account"
        response = self.rest(
            'put', f'telecom.account/{self.ids["r3_customer"]}',
            json={'credit_limit': 1})
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        response = self.rest(
            'delete', f'telecom.account/{self.ids["owner_customer"]}')
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)


del RouteTestCase
