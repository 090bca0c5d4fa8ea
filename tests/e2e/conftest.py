"""Fixtures for end-to-end tests: a demo database served by a real trytond
with the sao back office, and Debian's Chromium driven by Playwright."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ARTIFACTS = os.path.join(ROOT, 'tests', 'artifacts')
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
# As advised for this machine: no background networking, no sandbox as root.
CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync']


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@pytest.fixture(scope='session')
def demo_server(tmp_path_factory):
    """`make demo` in miniature: demo-setup on a fresh SQLite database, then
    trytond serving sao on a free loopback port. Stopped at the end."""
    db_path = tmp_path_factory.mktemp('db')
    port = free_port()
    env = {
        **os.environ,
        'TRYTOND_DATABASE__URI': 'sqlite://',
        'TRYTOND_DATABASE__PATH': str(db_path),
        'TRYTOND_WEB__ROOT': os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        'TRYTOND_WEB__LISTEN': f'127.0.0.1:{port}',
        }
    for key in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(key, None)
    config = os.path.join(ROOT, 'etc', 'trytond.conf')
    subprocess.run(
        [os.path.join(BIN, 'telecom'), 'demo-setup', '-c', config,
            '-d', 'demo'],
        check=True, env=env, cwd=ROOT, timeout=600,
        stdout=subprocess.DEVNULL)
    log = open(db_path / 'trytond.log', 'w')
    server = subprocess.Popen(
        [os.path.join(BIN, 'trytond'), '-c', config, '-d', 'demo'],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f'http://127.0.0.1:{port}/'
        wait_http(url)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# Module scope: Playwright's sync API holds an asyncio loop in this thread
# while it is open, which would break later tests that run their own loop.
@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={'width': 1280, 'height': 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def screenshot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    page.screenshot(path=path, full_page=False)
    return path
