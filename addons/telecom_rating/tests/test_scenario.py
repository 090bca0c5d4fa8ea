"""The scenarios of telecom_rating, for unittest (load_tests) and pytest (a
test case running the same doctest suite)."""
import unittest

from trytond.tests.test_tryton import load_doc_tests


def load_tests(loader, tests, pattern):
    # The scenarios only: ScenarioTestCase would run them a second time.
    return load_doc_tests(
        __name__, __file__, loader, unittest.TestSuite(), pattern)


class ScenarioTestCase(unittest.TestCase):
    "Run the scenarios where pytest, which ignores load_tests, collects"

    def test_scenarios(self):
        suite = load_tests(unittest.TestLoader(), None, None)
        self.assertTrue(suite.countTestCases())
        result = unittest.TestResult()
        suite.run(result)
        problems = result.failures + result.errors
        self.assertFalse(problems, '\n'.join(text for _, text in problems))
