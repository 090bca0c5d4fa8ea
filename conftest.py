"""Loaded by pytest before any test of the suite (make test, or pytest on
any path): Tryton's test databases are built and cached as
tests/database_cache.py says, when DB_CACHE is set (the Makefile sets it)."""
import os

if os.environ.get('DB_CACHE'):
    from tests import database_cache
    database_cache.install()
