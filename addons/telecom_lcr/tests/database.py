"""The test case of telecom_lcr's database tests."""
from trytond.modules.telecom_base.tests.tools import DatabaseTestCase


class LcrTestCase(DatabaseTestCase):
    "A fresh database with telecom_lcr activated"
    module = 'telecom_lcr'
