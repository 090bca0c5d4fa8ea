from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomSwitchTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_switch module"
    module = 'telecom_switch'


del ModuleTestCase
