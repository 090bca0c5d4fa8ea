"""docker/ cannot be run here (no Docker engine), so this runs what its
containers run: docker/entrypoint.sh against the local PostgreSQL, from an
empty database to a serving back office."""
import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest

from .conftest import BIN, ROOT, free_port, wait_http
from tests.fixtures import stop_group
from .test_callcontrol import children

PG_URI = os.environ.get(
    'TEST_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')


def queue_settings():
    """The queue's settings of every suite container: the TRYTOND_QUEUE__*
    variables of compose.yaml's x-suite environment (read by hand: no
    YAML library here)"""
    settings, inside = {}, False
    with open(os.path.join(ROOT, 'docker', 'compose.yaml')) as compose:
        for line in compose:
            if line.rstrip() == '  environment:':
                inside = True
            elif inside and not line.startswith('    '):
                break
            elif inside and line.strip().startswith('TRYTOND_QUEUE__'):
                key, _, value = line.strip().partition(':')
                settings[key] = value.strip().strip('"')
    assert settings, "compose.yaml sets no queue worker"
    return settings


def psql(sql):
    return subprocess.run(
        ['psql', PG_URI.rstrip('/') + '/postgres', '-qtAc', sql],
        capture_output=True, text=True, timeout=60)


@pytest.fixture
def database():
    if psql('SELECT 1').returncode != 0:
        if os.environ.get('CI') == 'true':
            pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
        pytest.skip(f"no PostgreSQL at {PG_URI}")
    name = f'entrypoint_{uuid.uuid4().hex[:8]}'
    yield name
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_entrypoint_creates_database_and_serves(database, tmp_path):
    port = free_port()
    password = tmp_path / 'admin_password'
    password.write_text('entrypoint-admin-2026')
    env = {
        **os.environ,
        'PATH': BIN + os.pathsep + os.environ['PATH'],
        'TRYTOND_DATABASE__URI': PG_URI,
        'TRYTOND_DATABASE__PATH': str(tmp_path),
        'TRYTOND_WEB__ROOT': os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        'TRYTOND_WEB__LISTEN': f'127.0.0.1:{port}',
        'DATABASE': database,
        'TRYTON_CONFIG': os.path.join(ROOT, 'etc', 'trytond.conf'),
        'ADMIN_PASSWORD_FILE': str(password),
        }
    for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(key, None)
    log = open(tmp_path / 'server.log', 'w')
    server = subprocess.Popen(
        [os.path.join(ROOT, 'docker', 'entrypoint.sh'), 'trytond'],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        url = f'http://127.0.0.1:{port}/'
        # The entrypoint activates every module in a new PostgreSQL
        # database: beside the rest of `make test` on 2 cores, over 5 min.
        wait_http(url, timeout=900, process=server)
        # sao is served …
        with urllib.request.urlopen(url) as response:
            assert b'tryton-sao' in response.read()
        # … and the admin of the new database logs in with its password.
        request = urllib.request.Request(
            f'{url}{database}/rpc/', method='POST',
            headers={'Content-Type': 'application/json'},
            data=json.dumps({'id': 1, 'method': 'common.db.login',
                    'params': ['admin',
                        {'password': 'entrypoint-admin-2026'}, 'en']}
                ).encode())
        with urllib.request.urlopen(request) as response:
            result = json.load(response)
        assert result['result'][0] == 1, result
        # … with the whole suite activated, as make demo does.
        from trytond.modules.telecom_base.demo import MODULES
        activated = subprocess.run(
            ['psql', PG_URI.rstrip('/') + '/' + database, '-qtAc',
                "SELECT name FROM ir_module WHERE state = 'activated' "
                "AND name LIKE 'telecom%' ORDER BY name"],
            capture_output=True, text=True).stdout.split()
        assert activated == MODULES
        assert 'telecom_portal' in activated and 'telecom_sale' in activated

        # The worker container runs Tryton's queue: with compose.yaml's
        # queue settings, a task pushed to the database is run there.
        worker = subprocess.Popen(
            [os.path.join(ROOT, 'docker', 'entrypoint.sh'), 'trytond-worker'],
            env={**env, **queue_settings()}, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            task = json.dumps({
                    'model': 'account.invoice',
                    'method': 'telecom_send_posted', 'instances': [],
                    'args': [], 'kwargs': {}, 'user': 0, 'context': {}})
            db = PG_URI.rstrip('/') + '/' + database
            subprocess.run(['psql', db, '-qtAc',
                    "INSERT INTO ir_queue (name, data, enqueued_at, "
                    "create_uid, create_date) VALUES ('default', "
                    f"'{task}', now(), 0, now()); NOTIFY \"ir.queue\""],
                check=True, capture_output=True)
            deadline = time.monotonic() + 60
            while True:
                finished = subprocess.run(['psql', db, '-qtAc',
                        "SELECT COUNT(*) FROM ir_queue "
                        "WHERE finished_at IS NOT NULL"],
                    capture_output=True, text=True).stdout.strip()
                if finished == '1':
                    break
                assert time.monotonic() < deadline, "the worker ran no task"
                time.sleep(0.5)
        finally:
            # With its pool of processes: they outlived a SIGTERM to the
            # worker alone (a container stops them all).
            stop_group(worker)

        # The call-control container runs the same entrypoint.
        api_port = free_port()
        api = subprocess.Popen(
            [os.path.join(ROOT, 'docker', 'entrypoint.sh'),
                'telecom-callcontrol', '--listen', f'127.0.0.1:{api_port}'],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            wait_http(f'http://127.0.0.1:{api_port}/health', timeout=120)
            with urllib.request.urlopen(
                    f'http://127.0.0.1:{api_port}/openapi.json') as response:
                assert '/v1/authorize' in json.load(response)['paths']
            # … with its rating worker beside it (a child process).
            assert any('telecom_switch.api.rater' in command
                for _, command in children(api.pid)), children(api.pid)
        finally:
            stop_group(api)
    finally:
        stop_group(server)
        log.close()
