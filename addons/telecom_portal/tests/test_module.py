from trytond.modules.telecom_base.tests.tools import TelecomCompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class TelecomPortalTestCase(TelecomCompanyTestMixin, ModuleTestCase):
    "Test telecom_portal module"
    module = 'telecom_portal'
    # The company a portal log-in administers, not the log-in's tenant:
    # web users are managed by the owner's staff (web_user's groups).
    _telecom_not_tenant = TelecomCompanyTestMixin._telecom_not_tenant | {
        ('web.user', 'reseller'),
        }


del ModuleTestCase
