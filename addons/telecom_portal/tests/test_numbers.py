"""A reseller assigns the numbers its parent sold it, in the portal."""
from http import HTTPStatus

from trytond.modules.telecom_base.tests.tools import create_tenancy
from trytond.pool import Pool

from .test_portal import PASSWORD, PortalClientCase


class NumberPortalTestCase(PortalClientCase):
    "Test the reseller's numbers page"
    extras = ['telecom_number']

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        WebUser = pool.get('web.user')
        Number = pool.get('telecom.inventory.number')
        t = create_tenancy()
        Number.import_file(t.owner, (
                "first,last\n442079460000,442079460002\n").encode())
        Number.import_file(t.r3, b"number\n442079469999\n")
        sold, kept, _ = Number.search(
            [('company', '=', t.owner.id)], order=[('number', 'ASC')])
        Number.assign_to([sold], t.r1_account)
        WebUser.create([{
                    'email': 'carol@example.com', 'password': PASSWORD,
                    'email_valid': True, 'reseller': t.r1.id}])
        bought, = Number.search([('company', '=', t.r1.id)])
        r3_number, = Number.search([('company', '=', t.r3.id)])
        cls.ids = {
            'bought': bought.id, 'kept': kept.id, 'r3_number': r3_number.id,
            'r1_customer': t.r1_customer.id, 'r3_customer': t.r3_customer.id,
            'r2_customer': t.r2_customer.id,
            }

    def test_assign_and_release(self):
        "The reseller assigns its number to its customer in one action"
        client = self.sign_in('carol@example.com')
        page = self.get(client, '/reseller/numbers').get_data(as_text=True)
        self.assertIn('+442079460000', page)
        # Neither the parent's other numbers nor another reseller's.
        self.assertNotIn('+442079460001', page)
        self.assertNotIn('+442079469999', page)
        number = self.ids['bought']
        response = self.post(client, f'/reseller/numbers/{number}/assign', {
                'account': str(self.ids['r1_customer'])})
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        with self.db():
            Number = Pool().get('telecom.inventory.number')
            Service = Pool().get('telecom.number')
            self.assertEqual(Number(number).state, 'assigned')
            service, = Service.search([('number', '=', '442079460000')])
            self.assertEqual(service.account.id, self.ids['r1_customer'])
        response = self.post(client, f'/reseller/numbers/{number}/release')
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        with self.db():
            Number = Pool().get('telecom.inventory.number')
            self.assertEqual(Number(number).state, 'quarantined')

    def test_wall(self):
        "Another tenant's numbers and customers are out of reach"
        client = self.sign_in('carol@example.com')
        for number in [self.ids['kept'], self.ids['r3_number']]:
            for action in ['assign', 'release']:
                response = self.post(
                    client, f'/reseller/numbers/{number}/{action}',
                    {'account': str(self.ids['r1_customer'])})
                self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        for account in [self.ids['r3_customer'], self.ids['r2_customer']]:
            response = self.post(
                client, f'/reseller/numbers/{self.ids["bought"]}/assign',
                {'account': str(account)})
            self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        response = self.post(
            client, f'/reseller/numbers/{self.ids["bought"]}/assign', {})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        with self.db():
            Number = Pool().get('telecom.inventory.number')
            self.assertEqual(Number(self.ids['kept']).state, 'available')
            self.assertEqual(Number(self.ids['r3_number']).state, 'available')
            self.assertNotEqual(Number(self.ids['bought']).state, 'assigned')
