from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomRatingTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_rating module"
    module = 'telecom_rating'


del ModuleTestCase
