"""Fixtures for end-to-end tests: a demo database served by a real trytond
with the sao back office, and Debian's Chromium driven by Playwright."""
import os
import shutil

import pytest

from tests.fixtures import (  # noqa: F401 (used by the tests)
    BIN, ROOT, copy_demo, free_port, serve, sqlite_env, wait_http)

ARTIFACTS = os.path.join(ROOT, 'tests', 'artifacts')
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
# As advised for this machine: no background networking, no sandbox as root.
CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync']


@pytest.fixture(scope='session')
def demo_server(tmp_path_factory, demo_database):
    """`make demo` in miniature: a copy of the demo database served by
    trytond with sao on a free loopback port. Stopped at the end."""
    db_path = tmp_path_factory.mktemp('db')
    copy_demo(demo_database, db_path)
    port = free_port()
    env = sqlite_env(db_path,
        TRYTOND_WEB__ROOT=os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        TRYTOND_WEB__LISTEN=f'127.0.0.1:{port}')
    config = os.path.join(ROOT, 'etc', 'trytond.conf')
    url = f'http://127.0.0.1:{port}/'
    with serve([os.path.join(BIN, 'trytond'), '-c', config, '-d', 'demo'],
            env, url, db_path / 'trytond.log'):
        yield url


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
