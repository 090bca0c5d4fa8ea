from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomSaleTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_sale module"
    module = 'telecom_sale'
    _telecom_not_tenant = TelecomCompanyTestMixin._telecom_not_tenant | {
        # Who sells the product; its rule (like the party's) lets the
        # owner see the products made by the system, without tenant.
        ('product.template', 'tenant'),
        }


del ModuleTestCase
