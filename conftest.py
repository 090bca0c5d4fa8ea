"""Loaded by pytest before any test of the suite (make test, or pytest on
any path).

* Tryton's test databases are built and cached as tests/database_cache.py
  says, when DB_CACHE is set (the Makefile sets it).
* ``demo_database``: the database file of `make demo`, made once for the
  whole run (tests/fixtures.py); tests copy it with ``copy_demo``.
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
