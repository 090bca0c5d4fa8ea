from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomLcrTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_lcr module"
    module = 'telecom_lcr'


del ModuleTestCase
