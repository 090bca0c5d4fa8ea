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
import os
import shutil
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


@contextmanager
def serve(command, env, url, log_path, timeout=60):
    """Run ``command`` (a server) with its output in ``log_path``, wait
    until ``url`` answers, and stop it at the end"""
    with open(log_path, 'w') as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT)
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
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _build_demo(folder):
    "`make demo`'s database, as folder/demo.sqlite"
    env = sqlite_env(folder)
    for command in [
            [os.path.join(BIN, 'telecom'), 'demo-setup', '-c', CONFIG,
                '-d', 'demo'],
            [os.path.join(BIN, 'telecom-portal'), '-c', CONFIG,
                '-d', 'demo', '--demo', '--setup-only']]:
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=900,
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
