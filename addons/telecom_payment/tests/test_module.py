import csv
import datetime as dt
import io
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.modules.currency.tests import create_currency
from trytond.modules.telecom_base.tests.tools import (
    TelecomCompanyTestMixin, as_user, create_customer, create_tenancy)
from trytond.modules.telecom_payment.exceptions import (
    RedemptionError, StaffCreditError, TopUpError)
from trytond.modules.telecom_payment.voucher import (
    ALPHABET, new_codes, normalize_code, printed)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction
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
    def test_kind_without_counterpart(self):
        """A kind no module books: posting names it and the tenant; the
        cron posts the tenant's other movements and logs it"""
        pool = Pool()
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        books = create_prepaid_books(t.r2)
        account = t.r2_customer
        # As a module that recorded them and is gone, or not updated.
        BalanceLine.add_movements([movement(account, '20', 'topup'),
                movement(account, '-3', 'mystery')])
        mystery, = BalanceLine.search([('kind', '=', 'mystery')])
        topup, = BalanceLine.search([('kind', '=', 'topup')])

        with self.assertRaisesRegex(UserError,
                rf'movements {mystery.id} of Sub Reseller Two are of kind '
                r'"mystery", which no activated module books'):
            BalanceLine.post([mystery])
        with self.assertLogs('trytond.modules.telecom_payment.balance',
                'ERROR') as logs:
            BalanceLine.post_pending(until=TOMORROW)
        self.assertIn(f'movements {mystery.id} (mystery)', logs.output[0])
        self.assertIn('Sub Reseller Two', logs.output[0])
        self.assertTrue(BalanceLine(topup.id).move)
        self.assertIsNone(BalanceLine(mystery.id).move)
        # The books hold what is posted: the ledger (17) less the
        # unbooked −3.
        self.assertEqual(
            liability_of(account.party, books['prepaid_account']),
            Decimal('20.00'))

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

    def create_sepa(self, t):
        "A validated mandate of R2's customer and R2's SEPA journal"
        pool = Pool()
        Party = pool.get('party.party')
        Identifier = pool.get('party.identifier')
        Bank = pool.get('bank')
        BankAccount = pool.get('bank.account')
        Mandate = pool.get('account.payment.sepa.mandate')
        Address = pool.get('party.address')
        Journal = pool.get('account.payment.journal')
        company = t.r2
        with Transaction().set_context(company=company.id):
            Identifier.create([{'party': company.party.id,
                        'type': 'eu_at_02', 'code': 'ES23ZZZ47690558N'}])
            bank_party, = Party.create([{'name': "EU Bank"}])
            bank, = Bank.create([{'party': bank_party.id, 'bic': 'KREDBEBB'}])
            ours, theirs = BankAccount.create([{
                        'bank': bank.id, 'owners': [('add', [
                                    company.party.id])],
                        'numbers': [('create', [{'type': 'iban',
                                        'number': 'BE70953368654125'}])],
                        }, {
                        'bank': bank.id, 'owners': [('add', [
                                    t.r2_customer.party.id])],
                        'numbers': [('create', [{'type': 'iban',
                                        'number': 'BE85735556927306'}])],
                        }])
            address, = Address.create([{
                        'party': t.r2_customer.party.id,
                        'street': "1 Rue de la Loi", 'city': "Bruxelles"}])
            mandate, = Mandate.create([{
                        'party': t.r2_customer.party.id,
                        'address': address.id,
                        'account_number': theirs.numbers[0].id,
                        'identification': 'TOPUP-1', 'type': 'recurrent',
                        'signature_date': dt.date.today()}])
            Mandate.request([mandate])
            Mandate.validate_mandate([mandate])
            journal, = Journal.create([{
                        'name': "SEPA", 'process_method': 'sepa',
                        'company': company.id,
                        'currency': company.currency.id,
                        'sepa_bank_account_number': ours.numbers[0].id,
                        'sepa_receivable_flavor': 'pain.008.001.02',
                        'sepa_payable_flavor': 'pain.001.001.03'}])
        return journal

    @with_transaction()
    def test_same_iban_for_customers_of_two_tenants(self):
        """The same IBAN registered by customers of two tenants: neither
        blocks nor learns of the other (issue 16)"""
        pool = Pool()
        BankAccount = pool.get('bank.account')
        t = create_tenancy()
        accounts = BankAccount.create([{
                    'owners': [('add', [customer.party.id])],
                    'numbers': [('create', [{'type': 'iban',
                                    'number': 'BE85 7355 5692 7306'}])],
                    } for customer in [t.r2_customer, t.r3_customer]])
        self.assertEqual(
            [a.numbers[0].number_compact for a in accounts],
            ['BE85735556927306'] * 2)

    @with_transaction()
    def test_sepa_topup(self):
        "A SEPA top-up makes its pain.008 and credits the balance once"
        pool = Pool()
        Payment = pool.get('account.payment')
        Group = pool.get('account.payment.group')
        Account = pool.get('telecom.account')
        t = create_tenancy()
        books = create_prepaid_books(t.r2)
        journal = self.create_sepa(t)
        account = t.r2_customer
        with Transaction().set_context(company=t.r2.id):
            payment = Payment.top_up(account, journal, Decimal('25.00'))
            self.assertEqual(payment.state, 'submitted')

            def group():
                group = Group(company=t.r2, journal=journal,
                    kind='receivable')
                group.save()
                return group
            group = Payment.process([payment], group)
        message, = group.sepa_messages
        xml = message.message.decode()
        self.assertIn('CstmrDrctDbtInitn', xml)
        self.assertIn('<InstdAmt Ccy="EUR">25.00</InstdAmt>', xml)
        self.assertIn('<MndtId>TOPUP-1</MndtId>', xml)
        self.assertIn('BE85735556927306', xml)
        # Nothing is credited before the bank says the debit succeeded.
        self.assertEqual(Account(account.id).balance, Decimal(0))

        payment = Payment(payment.id)
        self.assertEqual(payment.state, 'processing')
        Payment.succeed([payment])
        self.assertEqual(Account(account.id).balance, Decimal('25.00'))
        # Told again (a second statement, a retried job): credited once.
        Payment.credit_top_ups([Payment(payment.id)])
        self.assertEqual(Account(account.id).balance, Decimal('25.00'))
        self.assertEqual(liability_of(account.party,
                books['prepaid_account']), Decimal('25.00'))
        self.assertEqual(Payment(payment.id).telecom_credited,
            Decimal('25.00'))

        # Returned by the customer's bank after success: taken back.
        Payment.fail([Payment(payment.id)])
        self.assertEqual(Account(account.id).balance, Decimal(0))
        self.assertEqual(liability_of(account.party,
                books['prepaid_account']), Decimal(0))

    @with_transaction()
    def test_topup_bad_input(self):
        "Bad top-ups are refused with a clear message, nothing created"
        pool = Pool()
        Payment = pool.get('account.payment')
        Account = pool.get('telecom.account')
        t = create_tenancy()
        create_prepaid_books(t.r2, topup_maximum=Decimal(500))
        journal = self.create_sepa(t)
        account = t.r2_customer
        usd = create_currency('USD')
        cases = [
            (Decimal('-5'), None, "must be more than zero"),
            (Decimal(0), None, "must be more than zero"),
            (Decimal('10.001'), None, "more than the 2 decimals of EUR"),
            (Decimal('500.01'), None, "more than the 500"),
            (Decimal('NaN'), None, "not a number of money"),
            (10.5, None, "not a number of money"),
            (Decimal(10), 'XYZ', 'currency "XYZ" is unknown'),
            (Decimal(10), usd, "kept in EUR"),
            ]
        with Transaction().set_context(company=t.r2.id):
            for amount, currency, message in cases:
                with self.subTest(amount=amount, currency=currency):
                    with self.assertRaisesRegex(TopUpError, message):
                        Payment.top_up(account, journal, amount, currency)
            with self.assertRaisesRegex(TopUpError, "is not prepaid"):
                Payment.top_up(t.r1_customer, journal, Decimal(10))
            self.assertEqual(Payment.search([], count=True), 0)
            self.assertEqual(Account(account.id).balance, Decimal(0))
            # The largest allowed is accepted.
            Payment.top_up(account, journal, Decimal(500))

    def staff_credit(self, account, kind, amount, reason):
        "Run the account's Top Up or Adjust Balance wizard to its end"
        Credit = Pool().get('telecom.account.credit', type='wizard')
        with Transaction().set_context(active_model='telecom.account',
                active_id=account.id, active_ids=[account.id]):
            session_id, _, _ = Credit.create()
            credit = Credit(session_id)
            defaults = credit.default_start(None)
            self.assertEqual(defaults['account'], account.id)
            credit.start.kind = kind
            credit.start.amount = amount
            credit.start.reason = reason
            return credit.transition_credit()

    @with_transaction()
    def test_staff_credit(self):
        """Staff top-up and adjustment: one movement each with its reason,
        posted at once on the top-up receipts and call revenue accounts"""
        pool = Pool()
        Account = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        books = create_prepaid_books(t.r2)
        account = t.r2_customer

        self.assertEqual(self.staff_credit(account, 'topup',
                Decimal('25.00'), "Cash at the desk"), 'end')
        self.staff_credit(
            Account(account.id), 'adjustment', Decimal('-2.50'),
            "Call to a wrong number refunded twice")

        # 0 + 25.00 − 2.50
        self.assertEqual(Account(account.id).balance, Decimal('22.50'))
        topup, adjustment = BalanceLine.search(
            [('account', '=', account.id)], order=[('id', 'ASC')])
        self.assertEqual((topup.kind, topup.amount),
            ('topup', Decimal('25.00')))
        self.assertTrue(topup.description.startswith("Cash at the desk (by "))
        self.assertEqual((adjustment.kind, adjustment.amount),
            ('adjustment', Decimal('-2.50')))
        self.assertEqual({topup.move.state, adjustment.move.state},
            {'posted'})
        self.assertEqual(liability_of(account.party,
                books['prepaid_account']), Decimal('22.50'))
        # Top-up: Dr receipts 25.00; adjustment: Cr call revenue 2.50.
        self.assertEqual(
            [(l.account, l.debit, l.credit) for l in topup.move.lines
                if l.account != books['prepaid_account']],
            [(books['topup_account'], Decimal('25.00'), Decimal(0))])
        self.assertEqual(
            [(l.account, l.debit, l.credit) for l in adjustment.move.lines
                if l.account != books['prepaid_account']],
            [(books['call_revenue_account'], Decimal(0), Decimal('2.50'))])

    @with_transaction()
    def test_staff_credit_bad_input(self):
        "A wrong staff top-up or adjustment says what is wrong, moves nothing"
        pool = Pool()
        Account = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        create_prepaid_books(t.r2)
        account = t.r2_customer
        cases = [
            ('topup', Decimal('-5'), "Refund", "a top-up is more than zero"),
            ('topup', Decimal(0), "Nothing", "a top-up is more than zero"),
            ('adjustment', Decimal(0), "Nothing", "an adjustment is not zero"),
            ('topup', Decimal('10.001'), "Cash",
                "more than the 2 decimals of EUR"),
            ('topup', Decimal(10), "  ", "Give the reason"),
            ]
        for kind, amount, reason, message in cases:
            with self.subTest(kind=kind, amount=amount):
                with self.assertRaisesRegex(StaffCreditError, message):
                    self.staff_credit(account, kind, amount, reason)
        with self.assertRaisesRegex(StaffCreditError, "is not prepaid"):
            self.staff_credit(t.r1_customer, 'topup', Decimal(10), "Cash")
        self.assertEqual(BalanceLine.search([], count=True), 0)
        self.assertEqual(Account(account.id).balance, Decimal(0))

    @with_transaction()
    def test_vouchers(self):
        "Generate, export, redeem once; every refusal says why"
        pool = Pool()
        Batch = pool.get('telecom.voucher.batch')
        Voucher = pool.get('telecom.voucher')
        Account = pool.get('telecom.account')
        BalanceLine = pool.get('telecom.balance.line')
        t = create_tenancy()
        books = create_prepaid_books(t.r2)
        account = t.r2_customer
        owner_batch = create_batch(t.owner, '5.00', 3)
        r3_batch = create_batch(t.r3, '5.00', 1, name="R3 cards")
        usd_batch = create_batch(
            t.owner, '5.00', 1, currency=create_currency('USD'))

        codes = [v.code for v in owner_batch.vouchers]
        self.assertEqual(len(set(codes)), 3)
        self.assertEqual(owner_batch.state, 'generated')
        rows = list(csv.reader(io.StringIO(Batch.export_csv([owner_batch]))))
        self.assertEqual(rows[0],
            ['code', 'value', 'currency', 'expiry', 'batch', 'state'])
        self.assertEqual(rows[1], [printed(codes[0]), '5.00', 'EUR',
                NEXT_YEAR.isoformat(), 'Shop cards', 'active'])
        self.assertEqual(len(rows), 4)

        # Typed as printed, in lower case: accepted; R2 sells under the
        # owner (through R1), so the owner's vouchers are good for it.
        self.assertEqual(
            Voucher.redeem(printed(codes[0]).lower(), account),
            Decimal('5.00'))
        self.assertEqual(Account(account.id).balance, Decimal('5.00'))
        voucher = Voucher.search([('code', '=', codes[0])])[0]
        self.assertEqual(voucher.state, 'redeemed')
        self.assertEqual(voucher.redeemed_by, account)
        line, = BalanceLine.search([('origin', '=', str(voucher))])
        self.assertEqual(line.kind, 'voucher')
        self.assertEqual(line.move.state, 'posted')
        self.assertEqual(liability_of(account.party,
                books['prepaid_account']), Decimal('5.00'))

        Voucher.write([Voucher.search([('code', '=', codes[1])])[0]],
            {'expiry': dt.date.today() - dt.timedelta(days=1)})
        refusals = [
            (codes[0], 'redeemed', "already redeemed on"),
            (codes[1], 'expired', "expired on"),
            # Another tenant's code is told as no code at all.
            (r3_batch.vouchers[0].code, 'unknown', "There is no voucher"),
            (usd_batch.vouchers[0].code, 'currency', "is in USD"),
            ('ZZZZ-ZZZZ-ZZZZ-ZZZZ', 'unknown', "There is no voucher"),
            ('1234', 'unknown', "is not a voucher code"),
            ]
        for code, reason, message in refusals:
            with self.subTest(code=code):
                with self.assertRaisesRegex(RedemptionError, message) as cm:
                    Voucher.redeem(code, account)
                self.assertEqual(cm.exception.reason, reason)
        with self.assertRaises(RedemptionError) as cm:
            Voucher.redeem(codes[2], t.r1_customer)
        self.assertEqual(cm.exception.reason, 'invalid_account')
        # Nothing of the refusals moved money.
        self.assertEqual(Account(account.id).balance, Decimal('5.00'))
        self.assertEqual(
            Voucher.search([('state', '=', 'redeemed')], count=True), 1)

    @with_transaction()
    def test_voucher_batch_bad_input(self):
        "A batch with a bad value, quantity or expiry is refused"
        pool = Pool()
        Batch = pool.get('telecom.voucher.batch')
        t = create_tenancy()
        cases = [
            ({'value': Decimal(0)}, "more than zero"),
            ({'value': Decimal('-5')}, "more than zero"),
            ({'value': Decimal('1.005')}, "decimals of EUR"),
            ({'quantity': 0}, "holds 1 to 1000000"),
            ({'quantity': 1_000_001}, "holds 1 to 1000000"),
            ({'expiry': dt.date.today() - dt.timedelta(days=1)},
                "before today"),
            ]
        for values, message in cases:
            with self.subTest(values=values):
                with self.assertRaisesRegex(UserError, message):
                    Batch.create([{'name': "Bad", 'company': t.owner.id,
                                'value': Decimal(5), 'quantity': 10,
                                'currency': t.currency.id,
                                'expiry': NEXT_YEAR, **values}])

    @with_transaction()
    def test_tenancy(self):
        "A reseller sees only its subtree's vouchers and top-ups"
        pool = Pool()
        Batch = pool.get('telecom.voucher.batch')
        Voucher = pool.get('telecom.voucher')
        Payment = pool.get('account.payment')
        Report = pool.get('telecom.voucher.batch.csv', type='report')
        ModelData = pool.get('ir.model.data')
        t = create_tenancy()
        create_prepaid_books(t.r2)
        journal = self.create_sepa(t)
        r3_account = create_customer("R3 Prepaid", t.r3,
            billing_mode='prepaid')
        r3_journal, = pool.get('account.payment.journal').create([{
                    'name': "R3 manual", 'process_method': 'manual',
                    'company': t.r3.id, 'currency': t.currency.id}])
        # Reseller administrators collect their customers' top-ups.
        pool.get('res.user').write([t.r1_user, t.r2_user], {'groups': [
                    ('add', [ModelData.get_id('account_payment',
                                'group_payment')])]})
        owner = create_batch(t.owner, '5.00', 2, name="Owner cards")
        r1 = create_batch(t.r1, '5.00', 2, name="R1 cards")
        r2 = create_batch(t.r2, '5.00', 2, name="R2 cards")
        with Transaction().set_context(company=t.r2.id):
            r2_topup = Payment.top_up(t.r2_customer, journal, Decimal(10))
        with Transaction().set_context(company=t.r3.id):
            Payment.top_up(r3_account, r3_journal, Decimal(10))

        with as_user(t.r1_user, t.r1):
            self.assertEqual(sorted(b.name for b in Batch.search([])),
                ["R1 cards", "R2 cards"])
            self.assertEqual(Voucher.search([], count=True), 4)
        with as_user(t.r2_user, t.r2):
            self.assertEqual([b.name for b in Batch.search([])],
                ["R2 cards"])
            self.assertEqual(
                {v.batch for v in Voucher.search([])}, {Batch(r2.id)})
            self.assertEqual(Payment.search([]), [Payment(r2_topup.id)])
            # The CSV of batches it may not read: refused, or empty.
            try:
                _, content, _, _ = Report.execute(
                    [owner.id, r1.id, r2.id], {})
            except UserError:
                pass
            else:
                self.assertNotIn('Owner cards', content.decode())
            _, content, _, _ = Report.execute([r2.id], {})
            rows = list(csv.reader(io.StringIO(content.decode())))
            self.assertEqual(len(rows), 3)
            self.assertEqual({r[4] for r in rows[1:]}, {"R2 cards"})


del ModuleTestCase
