"""The activated test databases of `make test`, built once per module set,
each on the database of its largest dependency, and cached under a key of
the modules' sources.

Tryton's test cases (``ModuleTestCase``, ``RouteTestCase``, the suite's own
on ``activate_module``) and proteus scenarios (``activate_modules``) want
"``module`` and its dependencies activated in a fresh database". Tryton's
DB_CACHE keeps each result by module names, but builds every module set
from an empty database, and on PostgreSQL restores it with pg_restore.
:func:`install` (called by the root conftest.py, so in every pytest run)
changes three things and leaves the tests alone:

* Layers. A module set that is not cached yet is activated on top of the
  database of its largest dependency among the suite's modules, which is
  itself restored or built (and cached) first the same way: telecom_sale is
  telecom_billing's database plus what sale adds, telecom_billing is
  telecom_rating's plus the accounting, telecom_rating is telecom_base's
  plus rating. A scenario's ``activate_modules(module, setup…)`` starts
  from the plain module set's database and runs only its setup. Activating
  more modules into a database is what an operator does with
  ``trytond-admin -u``; the result is the same schema and records.
* PostgreSQL keeps its cached databases as templates and restores one with
  ``CREATE DATABASE … TEMPLATE`` (a copy of files inside the server)
  instead of pg_restore (hundreds of tables and indexes rebuilt). The
  templates are named ``<DB_NAME>__<id>_<module set>``, where <id> is a
  random id kept in the DB_CACHE folder (var/cache/<sources hash>/
  postgresql/): they belong to that folder, so new sources, a fresh clone
  or ``make clean`` mean a new id, and the templates of any other id under
  the same DB_NAME are dropped. They cannot go stale, and a fresh clone
  starts cold like CI does. They are marked as templates that take no
  connections, so no other run listing the server's databases (Tryton
  connects to each one) stops a copy from being made.
* Concurrency. A module set is built by one process at a time (a lock file
  in DB_CACHE) and published whole (a SQLite copy renamed into place, a
  template made in one CREATE DATABASE), so runs side by side never see
  half a cache and never build the same set twice.

* Locks asked for once. Tryton 8.0 takes a table or record lock
  (``Model.lock``: the fiscal year, account moves, each sequence used) only
  at the start of a transaction: asked for later it raises, and
  ``with_transaction`` runs the test again from the start with the lock.
  A test that uses three sequences thus ran four times. The locks a test
  needed are remembered per module set (and kept in DB_CACHE, keyed like
  it by the sources), and every later test transaction of that set starts
  with them: the test runs once. Taking a lock nobody else asks for
  changes nothing in a test's own transaction; the tests that run
  transactions side by side (test_redemption.py) open their own.

* Modules found once. Tryton's ``resolve`` scans every entry point of
  the environment for each module it resolves; the module found is
  remembered by name.

Without DB_CACHE nothing changes: every set is activated from scratch as
Tryton does.
"""
import atexit
import fcntl
import functools
import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from functools import wraps

ADDONS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'addons')
# The suite's modules: the sets that are worth a layer of their own.
SUITE_MODULES = frozenset(
    name for name in os.listdir(ADDONS)
    if os.path.exists(os.path.join(ADDONS, name, 'tryton.cfg')))


@functools.cache
def closure(module):
    "``module`` and every module it depends on, from the tryton.cfg files"
    from trytond.modules import get_module_info
    info = get_module_info(module) or {}
    modules = {module}
    for depend in info.get('depends', []):
        modules |= closure(depend)
    return frozenset(modules)


def base_layer(modules):
    """The suite's module below ``modules`` whose database holds the most of
    what they need, or None"""
    wanted = frozenset().union(*map(closure, modules))
    below = [m for m in SUITE_MODULES & wanted
        if m not in modules and closure(m) < wanted]
    return max(below, key=lambda m: (len(closure(m)), m), default=None)


def install():
    "Patch trytond's test helpers as the module docstring says"
    from trytond import backend
    from trytond.tests import test_tryton, tools
    cache = test_tryton.DB_CACHE
    if not cache or cache.startswith('postgresql://'):
        return
    if getattr(test_tryton.activate_module, 'layered', False):
        return
    db_name = test_tryton.DB_NAME
    activate_plain = test_tryton.activate_module
    # The module set of the database the tests run on now.
    current = {'set': None}

    @contextmanager
    def lock(name):
        os.makedirs(cache, exist_ok=True)
        key = hashlib.sha1(name.encode()).hexdigest()[:16]
        with open(os.path.join(cache, f'.lock-{key}'), 'w') as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    def activate_module(modules, lang='en'):
        if isinstance(modules, str):
            modules = [modules]
        name = '-'.join(modules)
        if lang != 'en':
            name += '--' + lang
        current['set'] = name
        with lock(name):
            if not test_tryton.db_exist(db_name):
                if test_tryton.restore_db_cache(name):
                    return
                base = base_layer(modules) if lang == 'en' else None
                if base:
                    activate_module([base])
                    current['set'] = name
            # Restores nothing (the database exists), activates what
            # ``modules`` add to it and caches the result under ``name``.
            activate_plain(modules, lang=lang)
    activate_module.layered = True
    test_tryton.activate_module = activate_module

    def activate_modules(modules, *setup):
        # tools.activate_modules, from the plain set's database.
        if isinstance(modules, str):
            modules = [modules]
        modules = sorted(modules)
        if not setup:
            test_tryton.drop_db()
            activate_module(modules)
            return tools._get_config()
        name = '-'.join(modules) + '--' + '|'.join(
            tools._func_name(f) for f in setup)
        with lock(name):
            if test_tryton.restore_db_cache(name):
                current['set'] = name
                return tools._get_config()
            test_tryton.drop_db()
            activate_module(modules)
            current['set'] = name
            config = tools._get_config()
            for function in setup:
                function(config=config)
            test_tryton.backup_db_cache(name)
            return config
    tools.activate_modules = activate_modules
    _install_lock_hints(test_tryton, cache, current)
    _install_module_lookup()

    if backend.name == 'sqlite':
        sqlite_copy = test_tryton._sqlite_copy

        def _sqlite_copy(file_, restore=False):
            if restore:
                return sqlite_copy(file_, restore=True)
            # Written aside and renamed: a reader sees all or nothing.
            partial = f'{file_}.{uuid.uuid4().hex}'
            if os.path.exists(file_) or not sqlite_copy(partial):
                return False
            os.replace(partial, file_)
            return True
        test_tryton._sqlite_copy = _sqlite_copy
    elif backend.name == 'postgresql':
        _install_templates(test_tryton, cache, db_name)


def _install_module_lookup():
    """Tryton's ``resolve`` finds a module by scanning every entry point of
    the environment at each call, and the generic tests of ModuleTestCase
    resolve every registered class that way (``isregisteredby``): a sixth
    of a module test case's time. A module found once is that module:
    remembered by name (a lookup that fails is not remembered)."""
    from trytond.tools import misc
    if not hasattr(misc.import_module, 'cache_info'):
        misc.import_module = functools.cache(misc.import_module)


def _install_lock_hints(test_tryton, cache, current):
    from trytond.cache import Cache
    from trytond.transaction import Transaction, TransactionError
    path = os.path.join(cache, 'lock-hints.json')
    hints = {}  # module set: {'_lock_tables': [...], '_lock_records': {}}
    try:
        with open(path) as file:
            hints.update(json.load(file))
    except (OSError, ValueError):
        pass
    learnt = {'any': False}

    def learn(extras):
        known = hints.setdefault(current['set'], {})
        tables = known.setdefault('_lock_tables', [])
        tables.extend(t for t in extras.get('_lock_tables', [])
            if t not in tables)
        records = known.setdefault('_lock_records', {})
        for table, ids in extras.get('_lock_records', {}).items():
            records[table] = sorted(set(records.get(table, [])) | set(ids))
        learnt['any'] = True

    @atexit.register
    def save():
        if not learnt['any']:
            return
        os.makedirs(cache, exist_ok=True)
        partial = f'{path}.{uuid.uuid4().hex}'
        with open(partial, 'w') as file:
            json.dump(hints, file)
        os.replace(partial, path)

    def with_transaction(user=1, context=None):
        # test_tryton.with_transaction, starting with the known locks.
        def decorator(func):
            @wraps(func)
            def wrapper(*args, **kwargs):
                known = hints.get(current['set'], {})
                extras = {
                    '_lock_tables': list(known.get('_lock_tables', [])),
                    '_lock_records': {t: list(ids) for t, ids in
                        known.get('_lock_records', {}).items()},
                    }
                asked = {}
                while True:
                    with Transaction().start(test_tryton.DB_NAME, user,
                            context=context, **extras) as transaction:
                        try:
                            result = func(*args, **kwargs)
                        except TransactionError as error:
                            transaction.rollback()
                            transaction.tasks.clear()
                            error.fix(extras)
                            # Records the test creates get new ids on
                            # every try (PostgreSQL's sequences do not
                            # roll back), so their record locks never
                            # converge: the second time a table's
                            # records are asked for, lock the table.
                            for table in list(extras.get(
                                        '_lock_records', {})):
                                asked[table] = asked.get(table, 0) + 1
                                tables = extras.setdefault(
                                    '_lock_tables', [])
                                if asked[table] > 1 and table not in tables:
                                    tables.append(table)
                            learn(extras)
                            continue
                        finally:
                            transaction.rollback()
                            # Clear remaining tasks
                            transaction.tasks.clear()
                            # Drop the cache as the transaction is rollbacked
                            Cache.drop(test_tryton.DB_NAME)
                        return result
            return wrapper
        return decorator
    test_tryton.with_transaction = with_transaction


def _install_templates(test_tryton, cache, db_name):
    from trytond import backend
    from trytond.pool import Pool

    def cache_id():
        path = os.path.join(cache, 'templates.id')
        os.makedirs(cache, exist_ok=True)
        try:
            with open(path, 'x') as file:
                file.write(uuid.uuid4().hex[:8])
        except FileExistsError:
            pass
        with open(path) as file:
            return file.read().strip()
    prefix = f'{db_name}__{cache_id()}_'
    assert len(prefix) + 16 <= 63, f"DB_NAME {db_name!r} is too long"

    def execute(sql, *params):
        # On the maintenance database "postgres" (an idle connection to
        # template1, Tryton's default, would stop other runs' createdb),
        # outside Tryton's transactions (some calls come from inside one).
        import psycopg
        conninfo = backend.Database._connection_params('postgres')['conninfo']
        with psycopg.connect(conninfo, autocommit=True) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def exists(name):
        # Straight from pg_database: Tryton's list() connects to every
        # database of the server and caches its answer.
        return bool(execute(
                'SELECT 1 FROM pg_database WHERE datname = %s', name))

    def template(name):
        return prefix + hashlib.sha1(name.encode()).hexdigest()[:16]

    def drop_template(name):
        execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
        execute(f'DROP DATABASE IF EXISTS "{name}"')

    # Templates of this DB_NAME from another cache folder cannot be used
    # any more (other sources, another clone, make clean): drop them.
    like = db_name.replace('_', r'\_') + r'\_\_%'
    for name, in execute(
            'SELECT datname FROM pg_database WHERE datname LIKE %s '
            'AND left(datname, %s) != %s', like, len(prefix), prefix):
        try:
            drop_template(name)
        except Exception:
            pass  # in use by a run of the old cache: left for next time

    def restore_db_cache(name):
        if not exists(template(name)):
            return False
        if exists(db_name):
            test_tryton.drop_db()
        execute(f'CREATE DATABASE "{db_name}" TEMPLATE "{template(name)}"')
        backend.Database.clear_cache()
        Pool(db_name).init()
        return True

    def backup_db_cache(name):
        target = template(name)
        if exists(target):
            return
        # CREATE DATABASE … TEMPLATE wants no connection to its source.
        backend.Database(db_name).close()
        execute(f'CREATE DATABASE "{target}" TEMPLATE "{db_name}"')
        execute(f'ALTER DATABASE "{target}" '
            'WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')

    def db_exist(name=db_name):
        return exists(name)

    test_tryton.restore_db_cache = restore_db_cache
    test_tryton.backup_db_cache = backup_db_cache
    test_tryton.db_exist = db_exist
