import io
import unittest

from trytond.tests.test_tryton import load_doc_tests


def load_tests(*args, **kwargs):
    return load_doc_tests(__name__, __file__, *args, **kwargs)


class ScenarioTestCase(unittest.TestCase):
    "The scenarios, for pytest (which does not follow load_tests)"

    def test_scenarios(self):
        suite = load_tests(unittest.TestLoader(), unittest.TestSuite(), None)
        stream = io.StringIO()
        result = unittest.TextTestRunner(stream=stream).run(suite)
        self.assertTrue(result.wasSuccessful(), stream.getvalue())
