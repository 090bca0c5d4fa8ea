import csv
import datetime as dt
import io
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.modules.currency.tests import create_currency
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

from ..exceptions import RedemptionError, TopUpError
from ..voucher import ALPHABET, new_codes, normalize_code, printed
from .tools import create_prepaid_books, liability_of

TOMORROW = dt.date.today() + dt.timedelta(days=1)
NEXT_YEAR = dt.date.today() + dt.timedelta(days=365)


def movement(account, amount, kind, **values):
    return {'account': account.id, 'amount': Decimal(amount), 'kind': kind,
        **values}


def create_batch(company, value, quantity, expiry=NEXT_YEAR, currency=None,
        name="Shop cards"):
    pool = Pool()
    Batch = pool.get('telecom.voucher.batch')
    batch, = Batch.create([{
                'name': name, 'company': company.id,
                'value': Decimal(value), 'quantity': quantity,
                'currency': (currency or company.currency).id,
                'expiry': expiry}])
    Batch.generate([batch])
    return batch


class TelecomPaymentTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_payment module"
    module = 'telecom_payment'

    def test_codes(self):
        "Codes: 16 symbols of the unambiguous alphabet, printed by fours"
        codes = new_codes(1000)
        self.assertEqual(len(set(codes)), 1000)
        for code in codes:
            self.assertEqual(len(code), 16)
            self.assertLessEqual(set(code), set(ALPHABET))
        self.assertFalse(set('01IO') & set(ALPHABET))
        self.assertEqual(printed('ABCDEFGHJKLMNPQR'), 'ABCD-EFGH-JKLM-NPQR')
        self.assertEqual(
            normalize_code(' abcd-efgh jklm-npqr '), 'ABCDEFGHJKLMNPQR')
        for wrong in ['ABCD', 'ABCDEFGHJKLMNPQ0', None, 12]:
            self.assertIsNone(normalize_code(wrong))

    @with_transaction()
    def test_ledger_in_the_books(self):
        "Every movement is posted; calls one move a day; liability = ledger"
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        Account = pool.get('telecom.account')
        t = create_tenancy()
        books = create_prepaid_books(t.r2)
        account = t.r2_customer
        BalanceLine.add_movements([movement(account, '20', 'topup')])
        BalanceLine.add_movements([movement(account, '-0.123456', 'call')])
        BalanceLine.add_movements([movement(account, '-1.000004', 'call')])
        BalanceLine.add_movements([movement(account, '-0.5', 'call')])
        BalanceLine.add_movements([movement(account, '0.1', 'adjustment')])

        BalanceLine.post_pending(until=TOMORROW)

        lines = BalanceLine.search([('account', '=', account.id)])
        self.assertTrue(all(l.move for l in lines))
        moves = {l.move for l in lines}
        # top-up, the day's three calls, the re-rating refund
        self.assertEqual(len(moves), 3)
        self.assertEqual(len({l.move for l in lines if l.kind == 'call'}), 1)
        self.assertEqual({m.state for m in moves}, {'posted'})
        # Ledger: 20 − 0.123456 − 1.000004 − 0.5 + 0.1 = 18.47654.
        self.assertEqual(Account(account.id).balance, Decimal('18.47654'))
        # Books: +20.00, calls round(18.37654) − 20.00 = −1.62, refund
        # round(18.47654) − 18.38 = +0.10: 18.48, the ledger to the cent.
        self.assertEqual(liability_of(account.party,
                books['prepaid_account']), Decimal('18.48'))
        amounts = sorted(
            sum(l.credit - l.debit for l in m.lines
                if l.account == books['prepaid_account']) for m in moves)
        self.assertEqual(amounts,
            [Decimal('-1.62'), Decimal('0.10'), Decimal('20.00')])
        revenue = books['call_revenue_account']
        self.assertEqual(sum((l.credit - l.debit for m in moves
                    for l in m.lines if l.account == revenue), Decimal(0)),
            Decimal('1.52'))
        self.assertEqual(sum((l.debit for m in moves for l in m.lines
                    if l.account == books['topup_account']), Decimal(0)),
            Decimal('20.00'))

        # Posting again posts nothing new.
        BalanceLine.post_pending(until=TOMORROW)
        self.assertEqual(
            {l.move for l in BalanceLine.search(
                    [('account', '=', account.id)])}, moves)

    @with_transaction()
    def test_unconfigured_tenant(self):
        "Posting for a tenant without prepaid accounts names what is missing"
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        BalanceLine.add_movements([movement(t.r2_customer, '5', 'topup')])
        lines = BalanceLine.search([('account', '=', t.r2_customer.id)])
        with self.assertRaisesRegex(UserError, 'Sub Reseller Two'):
            BalanceLine.post(lines)
        # The cron leaves an unconfigured tenant's movements for later.
        BalanceLine.post_pending(until=TOMORROW)
        self.assertIsNone(BalanceLine(lines[0].id).move)

    @with_transaction()
    def test_low_balance_notice(self):
        "One e-mail when the balance goes below; again after a top-up"
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        Account = pool.get('telecom.account')
        ContactMechanism = pool.get('party.contact_mechanism')
        t = create_tenancy()
        create_prepaid_books(t.r2, low_balance_threshold=Decimal(5))
        account = t.r2_customer
        ContactMechanism.create([{'party': account.party.id,
                    'type': 'email', 'value': 'r2@example.com'}])
        module = 'trytond.modules.telecom_payment.balance'
        with patch(f'{module}.sendmail_transactional') as sendmail:
            for amount in ['10', '-3', '-3', '-1', '-0.5']:
                BalanceLine.add_movements([movement(account, amount, 'call')])
            # 10 → 7 → 4 (notice) → 3 → 2.5
            self.assertEqual(sendmail.call_count, 1)
            (from_, to, msg), _ = sendmail.call_args
            self.assertEqual(to, ['r2@example.com'])
            self.assertIn('4.00 EUR', msg.get_content())
            self.assertTrue(Account(account.id).low_balance_notified)

            BalanceLine.add_movements([movement(account, '10', 'topup')])
            self.assertFalse(Account(account.id).low_balance_notified)
            self.assertEqual(sendmail.call_count, 1)
            BalanceLine.add_movements([movement(account, '-9', 'call')])
            self.assertEqual(sendmail.call_count, 2)

            # The account's own threshold wins over the tenant's.
            Account.write([account], {'low_balance_threshold': Decimal(1)})
            BalanceLine.add_movements([movement(account, '10', 'topup')])
            BalanceLine.add_movements([movement(account, '-12', 'call')])
            # 13.5 → 1.5: above the account's 1, no notice
            self.assertEqual(sendmail.call_count, 2)
