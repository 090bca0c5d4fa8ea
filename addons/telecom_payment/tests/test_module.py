from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomPaymentTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_payment module"
    module = 'telecom_payment'


del ModuleTestCase
