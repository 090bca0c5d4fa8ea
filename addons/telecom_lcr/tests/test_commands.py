"""The database sub-commands of telecom_lcr, run as an operator runs them:
subprocesses on a fresh SQLite database with the suite activated (a clone
of the call-control tests' template, tests/e2e/callcontrol_fixture.py).
In their own file (no Tryton test case) so that make test runs them once,
not once per backend."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BIN = os.path.dirname(sys.executable)
CONFIG = os.path.join(ROOT, 'etc', 'trytond.conf')
CALL = ['--caller', '442071230000', '--callee', '+447700900123',
    '--at', '2026-03-02T10:00:00']


@pytest.fixture(scope='module')
def database(tmp_path_factory):
    "A database with the owner's carriers Alpha and Beta and their policy"
    path = tmp_path_factory.mktemp('db')
    env = {**os.environ,
        'TRYTOND_DATABASE__URI': 'sqlite://',
        'TRYTOND_DATABASE__PATH': str(path)}
    for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(key, None)

    def run(*args, check=True):
        return subprocess.run(args, env=env, cwd=ROOT, check=check,
            capture_output=True, text=True, timeout=300)
    # The suite activated (telecom_lcr among its modules) by trytond-admin,
    # cloned from the call-control tests' template.
    run(sys.executable, '-m', 'tests.e2e.callcontrol_fixture', '--activated',
        CONFIG, 'lcr')
    run(sys.executable, os.path.join(HERE, 'seed_routing.py'), CONFIG, 'lcr')

    def telecom(*args):
        return run(os.path.join(BIN, 'telecom'), *args[:1], '-c', CONFIG,
            '-d', 'lcr', *args[1:], check=False)
    return telecom


def test_route_owner_plan(database):
    "The owner sees its policy's routes, costs and dialstrings"
    result = database('route', '--plan', 'Owner wholesale', *CALL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "voice call from 442071230000 to 447700900123 at "
        "2026-03-02T10:00:00Z, policy least-cost",
        "  1. beta         0.03 EUR/min  prefix 447        "
        "sip:07700900123@beta.example",
        "  2. alpha        0.05 EUR/min  prefix 447        "
        "sip:101447700900123@alpha.example:5060",
        ]
    assert result.stderr == "routes 2, skipped 0\n"


def test_route_reseller_plan(database):
    "A reseller's plan inheriting the owner's policy shows no carrier"
    result = database('route', '--plan', 'R1 retail', *CALL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "  1. (a route of the parent's policy)",
        "  2. (a route of the parent's policy)",
        ]
    assert 'alpha' not in result.stdout and 'beta' not in result.stdout


def test_route_bad_input(database):
    "An unknown plan or a missing database is bad input (exit code 2)"
    result = database('route', '--plan', 'No such plan', *CALL)
    assert (result.returncode, result.stderr) == (
        2, "no rate plan with id or name 'No such plan'\n")
    result = database('route', '--plan', 'Owner wholesale', '--account',
        'NOPE', *CALL)
    assert (result.returncode, result.stderr) == (
        2, "no account with code or id 'NOPE'\n")


def test_carrier_decks(database, tmp_path):
    "import-carrier-rates rejects a bad deck whole; a good one routes"
    bad = tmp_path / 'bad.csv'
    bad.write_text("prefix,rate\n447,0.01\n44x,-1\n")
    result = database('import-carrier-rates', '--carrier', 'alpha',
        str(bad), '--replace')
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bad.csv:3: column prefix: '44x': not a string of digits",
        "bad.csv:3: column rate: '-1': not a number at least 0",
        "rejected: 2 problems, nothing applied"]

    deck = tmp_path / 'alpha.csv'
    deck.write_text("prefix,destination,rate\n44,UK,0.01\n"
        "447,UK mobile,0.02\n")
    result = database('import-carrier-rates', '--carrier', 'alpha',
        str(deck), '--replace')
    assert (result.returncode, result.stderr) == (0,
        "imported 2 voice rates into carrier alpha, replacing 2\n")
    result = database('route', '--plan', 'Owner wholesale', *CALL)
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == [
        'alpha', 'beta']

    sheet = tmp_path / 'alpha.xlsx'
    result = database('export-carrier-rates', '--carrier', 'alpha',
        '-o', str(sheet))
    assert result.returncode == 0, result.stderr
    assert sheet.read_bytes()[:2] == b'PK'
    result = database('import-carrier-rates', '--carrier', 'Beta',
        '--service', 'sms', str(sheet))
    assert (result.returncode, result.stderr) == (0,
        "imported 2 sms rates into carrier beta\n")
    result = database('export-carrier-rates', '--carrier', 'beta',
        '--service', 'sms')
    assert result.stdout.splitlines()[1:] == [
        "44,UK,0.01,0,0,1,1,,,0,", "447,UK mobile,0.02,0,0,1,1,,,0,"]

    result = database('import-carrier-rates', '--carrier', 'gamma',
        str(deck))
    assert (result.returncode, result.stderr) == (
        2, "no carrier with code, id or name 'gamma'\n")
