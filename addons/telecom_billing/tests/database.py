"""The test case of telecom_billing's database tests."""
from trytond.tests.test_tryton import TestCase, activate_module, drop_db


class BillingTestCase(TestCase):
    """A fresh database with telecom_billing activated, without the module
    checks of ModuleTestCase: test_module.py runs those once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(['telecom_billing'])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()
