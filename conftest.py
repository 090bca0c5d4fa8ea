"""Loaded by pytest before any test of the suite (make test, or pytest on
any path).

* Tryton's test databases are built and cached as tests/database_cache.py
  says, when DB_CACHE is set (the Makefile sets it).
* ``demo_database``: the database file of `make demo`, made once for the
  whole run (tests/fixtures.py); tests copy it with ``copy_demo``.
* With TELECOM_STATIC_CHECKS=sqlite (the Makefile's PostgreSQL pass),
  Tryton's generic checks of a module's definitions run on SQLite only
  (see :func:`pytest_collection_modifyitems`).
"""
import os

import pytest

if os.environ.get('DB_CACHE'):
    from tests import database_cache
    database_cache.install()


@pytest.fixture(scope='session')
def demo_database(tmp_path_factory):
    from tests.fixtures import demo_database
    return demo_database(tmp_path_factory)


# Tryton's generic checks (ModuleTestCase, the company mixin) that read the
# models' definitions only — fields, views, depends, buttons, XML — the same
# on every backend. The one that runs SQL (every action window's domain
# searched) runs on both.
_SQL_CHECKS = {'test_ir_action_window'}


def pytest_collection_modifyitems(config, items):
    """With TELECOM_STATIC_CHECKS=sqlite, leave out (deselected, not
    skipped) the generic checks of definitions: the SQLite pass ran them.
    A fifth of a module's test time, spent twice for the same answer."""
    if os.environ.get('TELECOM_STATIC_CHECKS') != 'sqlite':
        return
    from trytond.modules.company.tests import CompanyTestMixin
    from trytond.tests.test_tryton import ModuleTestCase
    # Their functions: a module's test case that overrides one keeps it.
    generic = {function for base in (ModuleTestCase, CompanyTestMixin)
        for name, function in vars(base).items()
        if name.startswith('test_') and name not in _SQL_CHECKS}
    keep, drop = [], []
    for item in items:
        cls = getattr(item, 'cls', None)
        static = getattr(cls, item.name, None) in generic if cls else False
        (drop if static else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
