"""Fixtures of the prepaid money tests: a tenant's books (chart, fiscal
year, the prepaid accounts and journal) configured for its prepaid ledger.
"""
from decimal import Decimal

from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.pool import Pool
from trytond.transaction import Transaction


def create_prepaid_books(company, **values):
    """Give ``company`` a chart, this year's fiscal year and its prepaid
    configuration; return the accounts by role."""
    pool = Pool()
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    Configuration = pool.get('telecom.payment.configuration')
    with Transaction().set_context(company=company.id):
        create_chart(company)
        fiscalyear = get_fiscalyear(company)
        fiscalyear.save()
        fiscalyear.create_period([fiscalyear])

        def account(name, model, **values):
            model, = Account.search([
                    ('company', '=', company.id), ('name', '=', model)])
            new, = Account.copy([model], default={
                    'name': name, 'code': None, **values})
            return new
        books = {
            'prepaid_account': account(
                "Prepaid customer balances", "Main Payable",
                party_required=True),
            'call_revenue_account': account("Call revenue", "Main Revenue",
                party_required=False),
            'topup_account': account("Gateway clearing", "Main Cash",
                party_required=False),
            'voucher_account': account("Vouchers sold", "Main Payable",
                party_required=False),
            }
        journal, = Journal.search([('code', '=', 'MISC')])
        configuration = Configuration(1)
        for name, value in books.items():
            configuration.set_multivalue(name, value, company=company.id)
        configuration.set_multivalue(
            'prepaid_journal', journal, company=company.id)
        for name, value in values.items():
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
