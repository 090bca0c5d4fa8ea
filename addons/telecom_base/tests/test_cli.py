"""The ``telecom`` command run as an operator would, outside the Makefile:
what is missing is said in one message, never with a traceback."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
TELECOM = os.path.join(os.path.dirname(sys.executable), 'telecom')


def telecom(home, *args):
    "Run ``telecom *args`` in ``home`` with none of the Makefile's variables"
    env = {k: v for k, v in os.environ.items()
        if not k.startswith('TRYTOND') and k not in {'DB_NAME', 'DB_CACHE'}}
    env['HOME'] = str(home)
    return subprocess.run([TELECOM, *args], env=env, cwd=home,
        capture_output=True, text=True, timeout=120)


def test_missing_database_is_said(tmp_path):
    config = os.path.join(ROOT, 'etc', 'trytond.conf')
    result = telecom(tmp_path, 'export-rates', '-c', config, '-d', 'demo',
        '--plan', '1')
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    db = tmp_path / 'db' / 'demo.sqlite'
    assert result.stderr == (
        f"telecom export-rates: cannot open database 'demo': Database "
        f"'{db}' doesn't exist. The database is looked for with "
        "TRYTOND_DATABASE__URI (now sqlite://) and, for SQLite, in "
        f"TRYTOND_DATABASE__PATH (now {tmp_path / 'db'}). The demo's is "
        "var/db/demo.sqlite of the checkout: run `export "
        "TRYTOND_DATABASE__URI=sqlite:// TRYTOND_DATABASE__PATH=$PWD/var/db` "
        "there first, as `make demo` does.\n")


def test_missing_configuration_is_said(tmp_path):
    result = telecom(tmp_path, 'rate', '-c', 'etc/trytond.conf', '-d', 'demo')
    assert result.returncode == 1
    assert result.stderr == (
        "telecom rate: no configuration file etc/trytond.conf: give -c the "
        "path of trytond.conf (etc/trytond.conf in the checkout).\n")
