"""The test case of telecom_billing's database tests, and their accounting
fixture."""
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.modules.telecom_base.tests.tools import DatabaseTestCase
from trytond.pool import Pool

from .tools import create_books


class BillingTestCase(DatabaseTestCase):
    "A fresh database with telecom_billing activated"
    module = 'telecom_billing'


def create_usage_product(company, fiscal_year=None):
    """Give ``company`` a chart of accounts and a "Calls" product (its
    revenue account, no taxes) as the usage product of its billing
    configuration; with ``fiscal_year`` (a date), the fiscal year holding
    it. Leaves the test user working for ``company``."""
    pool = Pool()
    Category = pool.get('product.category')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Configuration = pool.get('telecom.billing.configuration')
    unit, = Uom.search([('name', '=', 'Unit')])
    revenue, _ = create_books(
        company, today=fiscal_year, fiscal_year=fiscal_year is not None)
    with set_company(company):
        category, = Category.create([{
                    'name': f"Calls {company.rec_name}",
                    'accounting': True,
                    'account_revenue': revenue.id}])
        template, = Template.create([{
                    'name': "Calls", 'type': 'service',
                    'default_uom': unit.id,
                    'list_price': Decimal(0),
                    'account_category': category.id,
                    'products': [('create', [{}])]}])
        Configuration.write([Configuration(1)], {
                'usage_product': template.products[0].id})
