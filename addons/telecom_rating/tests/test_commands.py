"""The database sub-commands of ``telecom``, run as an operator runs them:
subprocesses on a copy of the demo database made by ``telecom demo-setup``
(the ``demo_database`` fixture of the root conftest.py: made once a run)."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BIN = os.path.dirname(sys.executable)
CONFIG = os.path.join(ROOT, 'etc', 'trytond.conf')


@pytest.fixture(scope='module')
def demo(tmp_path_factory, demo_database):
    """A copy of the demo database (telecom_rating is among its modules)
    with a plan and three unrated calls"""
    path = tmp_path_factory.mktemp('db')
    shutil.copyfile(demo_database, path / 'demo.sqlite')
    env = {**os.environ,
        'TRYTOND_DATABASE__URI': 'sqlite://',
        'TRYTOND_DATABASE__PATH': str(path)}
    for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(key, None)

    def run(*args, check=True):
        return subprocess.run(args, env=env, cwd=ROOT, check=check,
            capture_output=True, text=True, timeout=300)
    # Run again on a demo database, demo-setup reuses it as it is.
    result = run(os.path.join(BIN, 'telecom'), 'demo-setup', '-c', CONFIG,
        '-d', 'demo')
    assert "reused" in result.stdout, result.stdout
    account = run(sys.executable, os.path.join(HERE, 'seed_demo.py'),
        CONFIG, 'demo').stdout.strip()

    def telecom(*args):
        return run(os.path.join(BIN, 'telecom'), *args[:1], '-c', CONFIG,
            '-d', 'demo', *args[1:], check=False)
    telecom.account = account
    telecom.path = path
    return telecom


def test_commands(demo, tmp_path):
    "import-rates rejects a bad deck whole; rate and rerate sum up"
    bad = tmp_path / 'bad.csv'
    bad.write_text("prefix,rate,time_band\n44,0.5,\n4x,-1,peak\n")
    result = demo('import-rates', '--plan', 'CLI test plan', str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bad.csv:3: column prefix: '4x': not a string of digits",
        "bad.csv:3: column rate: '-1': not a number at least 0",
        "bad.csv:3: column time_band: unknown time band 'peak'",
        "rejected: 3 problems, nothing applied"]
    result = demo('export-rates', '--plan', 'CLI test plan')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "44,UK,0.02,0,0,1,1,,,0,", "447,UK mobile,0.1,0,0,1,1,,,0,"]

    result = demo('import-rates', '--plan', 'No such plan', str(bad))
    assert (result.returncode, result.stderr) == (
        2, "no rate plan with id or name 'No such plan'\n")

    result = demo('rate')
    assert (result.returncode, result.stderr) == (
        0, "rated 2, unrated 1 (see the CDRs' reasons)\n")

    # A dearer UK mobile, through XLSX and back.
    deck = tmp_path / 'deck.csv'
    deck.write_text("prefix,destination,rate\n44,UK,0.02\n"
        "447,UK mobile,0.12\n")
    result = demo('import-rates', '--plan', 'CLI test plan', str(deck),
        '--replace')
    assert result.returncode == 0, result.stderr
    assert "imported 2 rates into plan CLI test plan" in result.stderr
    sheet = tmp_path / 'deck.xlsx'
    result = demo('export-rates', '--plan', 'CLI test plan', '-o', str(sheet))
    assert result.returncode == 0, result.stderr
    assert sheet.read_bytes()[:2] == b'PK'
    result = demo('import-rates', '--plan', 'CLI test plan', str(sheet),
        '--replace')
    assert result.returncode == 0, result.stderr

    result = demo('rerate', '--from', '2026-03-01', '--to', '2026-03-31')
    assert (result.returncode, result.stderr) == (0,
        "re-rated 3 CDRs: changed 1, unchanged 1, unrated 1\n")
    result = demo('rerate', '--account', demo.account,
        '--plan', 'CLI test plan')
    assert (result.returncode, result.stderr) == (0,
        "re-rated 2 CDRs: changed 0, unchanged 2, unrated 0\n")
    result = demo('rerate', '--to', '2026-03-01')
    assert (result.returncode, result.stderr) == (0,
        "re-rated 0 CDRs: changed 0, unchanged 0, unrated 0\n")
    result = demo('rerate', '--from', 'March')
    assert result.returncode == 2
    assert "not an ISO date" in result.stderr
