import datetime as dt

from trytond.modules.company.tests import create_company
from trytond.modules.currency.tests import create_currency
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, create_customer)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class TelecomSwitchTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_switch module"
    module = 'telecom_switch'

    @with_transaction()
    def test_live_calls_go_with_their_switch_and_account(self):
        """Live calls have no foreign keys (the API writes them at up to
        1,000/s): deleting a switch or an account still deletes its calls,
        and no other's"""
        pool = Pool()
        Switch = pool.get('telecom.switch')
        LiveCall = pool.get('telecom.live_call')
        Account = pool.get('telecom.account')
        company = create_company("Owner", create_currency('EUR'))
        with Transaction().set_context(company=company.id):
            one, two = Switch.create([
                    {'name': "One", 'code': 'one', 'company': company.id},
                    {'name': "Two", 'code': 'two', 'company': company.id}])
            alice = create_customer("Alice", company)
            bob = create_customer("Bob", company)
            now = dt.datetime(2026, 12, 1, 12)
            LiveCall.create([{
                        'switch': switch.id, 'call_id': f'{switch.code}-{n}',
                        'leg': 'a', 'account': account.id,
                        'state': 'authorized', 'authorized_at': now,
                        'expires_at': now + dt.timedelta(hours=1)}
                    for switch in (one, two)
                    for n, account in enumerate((alice, bob))])
            Switch.delete([one])
            self.assertEqual(
                sorted(c.call_id for c in LiveCall.search([])),
                ['two-0', 'two-1'])
            Account.delete([bob])
            self.assertEqual(
                [c.call_id for c in LiveCall.search([])], ['two-0'])


del ModuleTestCase
