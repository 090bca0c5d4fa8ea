"""Scenario fixtures: the owner company and its chart of accounts."""
from proteus import Model
from trytond.modules.account.tests.tools import create_chart
from trytond.modules.company.tests import create_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.pool import Pool
from trytond.transaction import Transaction


def create_owner(config):
    """The owner company (in USD) and its chart, made after activate_modules.

    The company is made by root: until a company exists, the tenancy rule
    of telecom_base lets no user create a party."""
    with Transaction().start(config.database_name, 0) as transaction:
        pool = Pool()
        User = pool.get('res.user')
        currency = create_currency('USD')
        add_currency_rate(currency, 1)
        company = create_company("Owner Telecom", currency)
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'companies': [('add', [company.id])],
                'company': company.id})
        transaction.commit()
    User = Model.get('res.user', config=config)
    config._context = User.get_preferences(True, {})
    create_chart(config=config)


def rate_calls(config, calls):
    """Ingest ``calls`` — (account id, call id, callee, start, seconds) —
    as the switch does, rate them and return (rated, unrated)."""
    import datetime as dt
    with Transaction().start(config.database_name, 0) as transaction:
        Cdr = Pool().get('telecom.cdr')
        Cdr.ingest([{
                    'switch': 'test', 'call_id': call_id, 'leg': 'a',
                    'account': account, 'caller': '442071230000',
                    'callee': callee, 'start': start,
                    'answer': start,
                    'end': start + dt.timedelta(seconds=seconds),
                    'duration': seconds}
                for account, call_id, callee, start, seconds in calls])
        result = Cdr.rate_unrated()
        transaction.commit()
    return result
