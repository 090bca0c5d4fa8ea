"""What the tests that run the suite's programs share: starting a server
and waiting for it, and the database of `make demo`, made once per run.

The demo database costs a whole activation of the suite (``telecom
demo-setup`` on an empty database, then ``telecom-portal --demo``): it is
made once, by :func:`demo_database`, and each test that wants one gets a
copy of the file to change as it likes. With TELECOM_TEST_CACHE set (the
Makefile sets it to var/cache/<sources hash>, the folder of Tryton's test
cache) it is kept there for the next runs, like the test cache and under
the same key; otherwise it lives in the run's temporary folder.
"""
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
CONFIG = os.path.join(ROOT, 'etc', 'trytond.conf')
PG_URI = os.environ.get(
    'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/').rstrip('/')
# Of this working tree: runs of other trees keep their own templates.
TREE = hashlib.sha1(ROOT.encode()).hexdigest()[:8]
# Variables of the test runner that the suite's programs must not inherit:
# each program gets its own database settings.
TEST_VARIABLES = ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_http(url, timeout=60, process=None):
    """Until ``url`` answers; fail at once if ``process`` (the server)
    exits meanwhile"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the server of {url} exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def sqlite_env(path, **values):
    "The environment of a program of the suite on SQLite files in ``path``"
    env = {**os.environ, 'TRYTOND_DATABASE__URI': 'sqlite://',
        'TRYTOND_DATABASE__PATH': str(path), **values}
    for key in TEST_VARIABLES:
        env.pop(key, None)
    return env


def stop_group(process, timeout=10):
    """Stop ``process`` (started with ``start_new_session=True``) and every
    process of its group: SIGTERM, then SIGKILL for what is left after
    ``timeout`` s. A program's own children (trytond-worker's pool, the
    call-control API's rating worker) go with it, as in a container."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + timeout
    while True:
        try:
            # Signal 0: is any process of the group left?
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    process.wait()


@contextmanager
def serve(command, env, url, log_path, timeout=60):
    """Run ``command`` (a server) with its output in ``log_path``, wait
    until ``url`` answers, and stop it at the end"""
    with open(log_path, 'w') as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            try:
                wait_http(url, timeout=timeout, process=server)
            except (TimeoutError, RuntimeError) as error:
                # What the server said is why it did not answer.
                log.flush()
                with open(log_path) as said:
                    tail = ''.join(said.readlines()[-30:])
                raise type(error)(f"{error}; {log_path} ends:\n{tail}")
            yield server
        finally:
            stop_group(server)


def postgresql_env(**values):
    "The environment of a program of the suite on the PostgreSQL server"
    env = {**os.environ, 'TRYTOND_DATABASE__URI': PG_URI + '/', **values}
    for key in TEST_VARIABLES:
        env.pop(key, None)
    return env


def _build_demo(folder, env=None, database='demo'):
    """`make demo`'s database, as folder/demo.sqlite (or ``database`` in
    ``env``'s)"""
    env = env or sqlite_env(folder)
    for command in [
            [os.path.join(BIN, 'telecom'), 'demo-setup', '-c', CONFIG,
                '-d', database],
            [os.path.join(BIN, 'telecom-portal'), '-c', CONFIG,
                '-d', database, '--demo', '--setup-only']]:
        # Generous: on PostgreSQL, beside the two other parts of `make
        # test` on 2 cores, activating every module took over 15 minutes.
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=2400,
            stdout=subprocess.DEVNULL)


def demo_database(tmp_path_factory):
    "The path of `make demo`'s database file, made if missing"
    cache = os.environ.get('TELECOM_TEST_CACHE')
    if not cache:
        folder = tmp_path_factory.mktemp('demo-db')
        _build_demo(folder)
        return folder / 'demo.sqlite'
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, 'demo.sqlite')
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            folder = os.path.join(cache, f'demo-{uuid.uuid4().hex}')
            os.makedirs(folder)
            try:
                _build_demo(folder)
                os.replace(os.path.join(folder, 'demo.sqlite'), path)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return path


def copy_demo(demo, folder, name='demo'):
    "Copy the demo database file ``demo`` into ``folder`` as ``name``"
    shutil.copyfile(demo, os.path.join(folder, f'{name}.sqlite'))


def demo_database_postgresql():
    """The name of a PostgreSQL template database holding `make demo`'s
    database, made if missing; clone it with :func:`pg_clone`"""
    return pg_template(PG_URI, f'demo_tpl_{TREE}_', sources_hash(),
        lambda building: _build_demo(None, postgresql_env(), building))


def sources_hash():
    """Of the modules' sources, as the Makefile keys its test cache (their
    tests aside)"""
    digest = hashlib.sha1()
    addons = os.path.join(ROOT, 'addons')
    paths = []
    for directory, dirs, files in os.walk(addons):
        # Not loaded by trytond-admin: tests, telecom_switch's processes.
        dirs[:] = [d for d in dirs
            if d not in ('tests', 'api', 'bridge', '__pycache__')]
        paths += [os.path.join(directory, f) for f in files
            if f.endswith(('.py', '.xml', '.cfg'))]
    for path in sorted(paths):
        digest.update(path.encode())
        with open(path, 'rb') as file:
            digest.update(file.read())
    return digest.hexdigest()[:12]


def psql(uri, sql, check=True):
    return subprocess.run(
        ['psql', uri + '/postgres', '-qtAc', sql],
        check=check, capture_output=True, text=True)


def pg_template(uri, prefix, key, build):
    """The name of the PostgreSQL template database ``prefix + key`` on
    ``uri``, built by ``build(name)`` if missing. Templates of the same
    ``prefix`` and another key (older sources) are dropped."""
    template = prefix + key
    exists = psql(uri, "SELECT 1 FROM pg_database "
        f"WHERE datname = '{template}'").stdout.strip()
    if not exists:
        # Built under a name of its own, then renamed: a concurrent run
        # never clones a half-built template.
        building = f'{prefix}build_{uuid.uuid4().hex[:8]}'
        psql(uri, f'CREATE DATABASE "{building}"')
        try:
            build(building)
        except BaseException:
            psql(uri, f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)',
                check=False)
            raise
        # A template taking no connections: no other run listing the
        # server's databases (Tryton connects to each) can stop a clone.
        renamed = psql(uri,
            f'ALTER DATABASE "{building}" RENAME TO "{template}"',
            check=False)
        if renamed.returncode:
            psql(uri, f'DROP DATABASE IF EXISTS "{building}"', check=False)
        else:
            psql(uri, f'ALTER DATABASE "{template}" '
                'WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        # Templates of older sources are of no use any more.
        old = psql(uri, "SELECT datname FROM pg_database WHERE datname "
            f"LIKE '{prefix}%' AND datname != '{template}' "
            f"AND datname NOT LIKE '{prefix}build_%'").stdout
        for name in old.split():
            psql(uri, f'ALTER DATABASE "{name}" IS_TEMPLATE false',
                check=False)
            psql(uri, f'DROP DATABASE IF EXISTS "{name}"', check=False)
    return template


def pg_clone(uri, template, database):
    "Create ``database`` on ``uri`` as a copy of ``template``"
    for attempt in range(20):
        # Fails while another session is connected to the template (a
        # concurrent clone): try again.
        result = psql(uri,
            f'CREATE DATABASE "{database}" TEMPLATE "{template}"',
            check=False)
        if not result.returncode:
            return
        time.sleep(0.5)
    raise RuntimeError(result.stderr)
