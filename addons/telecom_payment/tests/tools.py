"""Fixtures of the prepaid money tests: a tenant's books (a small chart,
this year's fiscal year, the prepaid accounts and journal) configured for
its prepaid ledger. The chart is made by hand: Tryton's universal chart
costs ~20 s a company, four accounts cost nothing."""
from decimal import Decimal

from trytond.modules.account.tests import get_fiscalyear
from trytond.pool import Pool
from trytond.transaction import Transaction


def create_prepaid_books(company, **values):
    """Give ``company`` a small chart, this year's fiscal year and its
    prepaid configuration (``values`` adds settings); return the accounts
    by role."""
    pool = Pool()
    Type = pool.get('account.account.type')
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    Configuration = pool.get('telecom.payment.configuration')
    with Transaction().set_context(company=company.id):
        fiscalyear = get_fiscalyear(company)
        fiscalyear.save()
        fiscalyear.create_period([fiscalyear])
        root, = Type.create([{'name': "Chart", 'company': company.id}])
        assets, liabilities, revenue = Type.create([{
                    'name': "Cash", 'company': company.id,
                    'parent': root.id, 'statement': 'balance',
                    'assets': True,
                    }, {
                    'name': "Customer balances", 'company': company.id,
                    'parent': root.id, 'statement': 'balance',
                    'payable': True,
                    }, {
                    'name': "Revenue", 'company': company.id,
                    'parent': root.id, 'statement': 'income',
                    'revenue': True,
                    }])
        prepaid, revenue, cash, vouchers = Account.create([{
                    'name': "Prepaid customer balances",
                    'company': company.id, 'type': liabilities.id,
                    'party_required': True,
                    }, {
                    'name': "Call revenue", 'company': company.id,
                    'type': revenue.id,
                    }, {
                    'name': "Gateway clearing", 'company': company.id,
                    'type': assets.id,
                    }, {
                    'name': "Vouchers sold", 'company': company.id,
                    'type': liabilities.id,
                    }])
        books = {
            'prepaid_account': prepaid,
            'call_revenue_account': revenue,
            'topup_account': cash,
            'voucher_account': vouchers,
            }
        journal, = Journal.search([('code', '=', 'MISC')])
        configuration = Configuration(1)
        for name, value in {
                **books, 'prepaid_journal': journal, **values}.items():
            configuration.set_multivalue(name, value, company=company.id)
        configuration.save()
    return books


def liability_of(party, account):
    """What the books owe ``party`` on ``account``: credit − debit of its
    lines, summed in Decimal"""
    pool = Pool()
    MoveLine = pool.get('account.move.line')
    lines = MoveLine.search([
            ('party', '=', party.id), ('account', '=', account.id)])
    return sum((l.credit - l.debit for l in lines), Decimal(0))
