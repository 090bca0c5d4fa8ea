"""Fixtures of the prepaid money tests: a tenant's books (a small chart,
this year's fiscal year, the prepaid accounts and journal) configured for
its prepaid ledger. The chart is made by hand: Tryton's universal chart
costs ~20 s a company, four accounts cost nothing."""
from decimal import Decimal

from trytond.modules.telecom_base.locking import run_committed
from trytond.modules.telecom_billing.tests.tools import create_fiscalyear
from trytond.pool import Pool
from trytond.transaction import Transaction


def create_prepaid_books(company, **values):
    """Give ``company`` a small chart, this year's fiscal year and its
    prepaid configuration (``values`` adds settings); return the accounts
    by role."""
    pool = Pool()
    Type = pool.get('account.account.type')
    with Transaction().set_context(company=company.id):
        create_fiscalyear(company)
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
    return add_prepaid_books(company, assets, liabilities, revenue, **values)


def add_prepaid_books_to_chart(company, **values):
    """``add_prepaid_books`` on the chart ``company`` has already
    (telecom_billing's ``create_taxed_books``): its first assets, payable
    and revenue types"""
    Type = Pool().get('account.account.type')

    def type_(flag):
        return Type.search([(flag, '=', True),
                ('company', '=', company.id)], limit=1)[0]
    return add_prepaid_books(company, type_('assets'), type_('payable'),
        type_('revenue'), **values)


def add_prepaid_books(company, assets, liabilities, revenue, **values):
    """Add to ``company``'s chart the accounts of its prepaid money — of
    the types ``assets``, ``liabilities`` and ``revenue`` — and set its
    prepaid configuration (``values`` adds settings); return the accounts
    by role."""
    pool = Pool()
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    Configuration = pool.get('telecom.payment.configuration')
    with Transaction().set_context(company=company.id):
        prepaid, revenue, cash, vouchers, usage = Account.create([{
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
                    }, {
                    'name': "Prepaid usage invoiced", 'company': company.id,
                    'type': liabilities.id,
                    }])
        books = {
            'prepaid_account': prepaid,
            'call_revenue_account': revenue,
            'topup_account': cash,
            'voucher_account': vouchers,
            'prepaid_usage_account': usage,
            }
        journal, = Journal.search([('code', '=', 'MISC')])
        configuration = Configuration(1)
        for name, value in {
                **books, 'prepaid_journal': journal, **values}.items():
            configuration.set_multivalue(name, value, company=company.id)
        configuration.save()
    return books


def total(account, party=None):
    "credit − debit of ``account``'s move lines (of ``party``), in Decimal"
    MoveLine = Pool().get('account.move.line')
    domain = [('account', '=', account.id)]
    if party:
        domain.append(('party', '=', party.id))
    return sum((l.credit - l.debit for l in MoveLine.search(domain)),
        Decimal(0))


def liability_of(party, account):
    "What the books owe ``party`` on ``account``"
    return total(account, party)


def setup_prepaid_scenario(config):
    """For a scenario: the owner company (EUR), its prepaid books and a
    prepaid customer account; return their ids. Made by
    root in a committed transaction, as telecom_billing's create_owner."""
    from trytond.modules.company.tests import create_company
    from trytond.modules.currency.tests import (
        add_currency_rate, create_currency)
    from trytond.modules.telecom_base.tests.tools import create_customer

    def work(pool):
        User = pool.get('res.user')
        currency = create_currency('EUR')
        add_currency_rate(currency, 1)
        company = create_company("Owner Telecom", currency)
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'companies': [('add', [company.id])],
                'company': company.id})
        books = create_prepaid_books(company)
        account = create_customer("Prepaid Customer", company,
            flavour='residential', billing_mode='prepaid')
        return {
            'company': company.id, 'account': account.id,
            'party': account.party.id,
            **{k: v.id for k, v in books.items()}}
    return as_root(config.database_name, work)


def redeem(config, code, account_id):
    """Redeem ``code`` for ``account_id`` as the portal does, in a request
    transaction of its own; return the amount or the refusal's
    (reason, message)."""
    from trytond.modules.telecom_payment.exceptions import RedemptionError

    def work(pool):
        Account = pool.get('telecom.account')
        Voucher = pool.get('telecom.voucher')
        try:
            return Voucher.redeem(code, Account(account_id))
        except RedemptionError as exception:
            return exception.reason, exception.message
    return as_root(config.database_name, work)


# A committed root transaction, as a cron or a worker runs
as_root = run_committed
