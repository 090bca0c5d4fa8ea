"""The TLS proxy of docker/ (docker/nginx.conf), run by Debian's nginx in
front of a real portal and trytond on a copy of the demo database.

docker/ cannot be run here (no Docker engine), so this runs what its proxy
container runs: the same nginx.conf, with only its upstreams, ports,
certificate paths and nginx's own files moved to this test's loopback
ports and temporary folder. It proves what a customer relies on: plain
HTTP is redirected, the portal is served over TLS with the brand of the
host name asked for, its links (the sign-up e-mail) say https and that
host, cookies are Secure, the client cannot forge its address, and the
back office answers on its own port."""
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time

import httpx
import pytest

from tests.fixtures import (
    BIN, CONFIG, ROOT, copy_demo, free_port, serve, sqlite_env)

from .test_portal import Mailbox

NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
NGINX_CONF = os.path.join(ROOT, 'docker', 'nginx.conf')
BRAND_HOST = 'bluebell.localhost'


@pytest.fixture(scope='module')
def mailbox():
    server = Mailbox()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def certificate(folder):
    "A self-signed certificate for the test's host names, and its key"
    cert, key = folder / 'fullchain.pem', folder / 'privkey.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
            '-nodes', '-days', '1', '-subj', '/CN=localhost',
            '-addext', f'subjectAltName=DNS:{BRAND_HOST},IP:127.0.0.1',
            '-keyout', str(key), '-out', str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert


def render(folder, ports):
    """docker/nginx.conf with its upstreams, listening ports and files moved
    to loopback and ``folder``; each change must find its text, so a
    changed nginx.conf fails here instead of being silently not tested"""
    with open(NGINX_CONF) as file:
        text = file.read()
    changes = [
        ('server portal:8010;', f"server 127.0.0.1:{ports['portal']};"),
        ('server trytond:8000;', f"server 127.0.0.1:{ports['trytond']};"),
        ('listen 80 default_server;',
            f"listen 127.0.0.1:{ports['http']} default_server;"),
        ('listen 443 ssl default_server;',
            f"listen 127.0.0.1:{ports['https']} ssl default_server;"),
        ('listen 8443 ssl;', f"listen 127.0.0.1:{ports['backoffice']} ssl;"),
        ('/etc/nginx/certs/', f'{folder}/'),
        ('http {\n', 'http {\n'
            f'    access_log {folder}/access.log;\n' + ''.join(
                f'    {name}_temp_path {folder}/{name};\n' for name in [
                    'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])),
        ]
    for old, new in changes:
        assert old in text, f"docker/nginx.conf has no {old!r} any more"
        text = text.replace(old, new)
    path = folder / 'nginx.conf'
    path.write_text(text)
    return path


@pytest.fixture(scope='module')
def stack(tmp_path_factory, demo_database, mailbox):
    "nginx in front of telecom-portal and trytond, as in docker/compose.yaml"
    if not os.path.exists(NGINX):
        if os.environ.get('CI') == 'true':
            pytest.fail("nginx must be installed under CI (.ci/run)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    folder = tmp_path_factory.mktemp('proxy')
    copy_demo(demo_database, folder)
    with open(CONFIG) as source:
        (folder / 'trytond.conf').write_text(re.sub(
                r'(?m)^uri = smtp://.*$',
                f'uri = smtp://127.0.0.1:{mailbox.server_address[1]}',
                source.read()))
    config = str(folder / 'trytond.conf')
    ports = {name: free_port() for name in [
            'portal', 'trytond', 'http', 'https', 'backoffice']}
    ca = certificate(folder)
    # As compose.yaml: both trust the one proxy in front of them.
    env = sqlite_env(folder, TRYTOND_WEB__NUM_PROXIES='1',
        TRYTOND_WEB__ROOT=os.path.join(
            ROOT, 'web', 'node_modules', 'tryton-sao'),
        TRYTOND_WEB__LISTEN=f"127.0.0.1:{ports['trytond']}")
    nginx_conf = render(folder, ports)
    with serve([os.path.join(BIN, 'telecom-portal'), '-c', config,
                '-d', 'demo', '--listen', f"127.0.0.1:{ports['portal']}"],
            env, f"http://127.0.0.1:{ports['portal']}/login",
            folder / 'portal.log'), \
            serve([os.path.join(BIN, 'trytond'), '-c', config, '-d', 'demo'],
                env, f"http://127.0.0.1:{ports['trytond']}/",
                folder / 'trytond.log'):
        nginx = subprocess.Popen([NGINX, '-p', str(folder), '-c',
                str(nginx_conf), '-g',
                f'daemon off; pid {folder}/nginx.pid; '
                f'error_log {folder}/error.log;'],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            client = httpx.Client(verify=str(ca), timeout=30)
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get(f"https://127.0.0.1:{ports['https']}/login")
                    break
                except httpx.TransportError:
                    if (nginx.poll() is not None
                            or time.monotonic() > deadline):
                        raise RuntimeError("nginx did not start: " + (
                                folder / 'error.log').read_text())
                    time.sleep(0.2)
            yield {'ports': ports, 'client': client, 'folder': folder,
                'ca': str(ca)}
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def portal_url(stack, path):
    return f"https://127.0.0.1:{stack['ports']['https']}{path}"


def brand_headers(stack):
    # The host name a customer of Bluebell types, with the proxy's port.
    return {'Host': f"{BRAND_HOST}:{stack['ports']['https']}"}


def test_plain_http_redirects_to_https(stack):
    response = stack['client'].get(
        f"http://127.0.0.1:{stack['ports']['http']}/signup?x=1",
        headers={'Host': BRAND_HOST})
    assert response.status_code == 301
    assert response.headers['Location'] == f'https://{BRAND_HOST}/signup?x=1'


def test_portal_over_tls_with_the_brand_of_the_host(stack):
    # A new visitor: no cookie yet.
    with httpx.Client(verify=stack['ca']) as client:
        response = client.get(
            portal_url(stack, '/login'), headers=brand_headers(stack))
    assert response.status_code == 200
    assert 'Bluebell Voice' in response.text
    assert response.headers['Strict-Transport-Security'].startswith(
        'max-age=')
    # The anonymous CSRF cookie is Secure: the portal knows it is on TLS.
    cookies = response.headers.get_list('Set-Cookie')
    assert cookies and all('Secure' in cookie for cookie in cookies)


def test_signup_link_says_https_and_the_brand_host(stack, mailbox):
    client = stack['client']
    headers = brand_headers(stack)
    form = client.get(portal_url(stack, '/signup'), headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    plan = re.search(r'name="plan" id="plan-\d+" value="(\d+)"', form.text)
    response = client.post(portal_url(stack, '/signup'), headers=headers,
        data={'csrf_token': token.group(1), 'plan': plan.group(1),
            'name': 'Tessa TLS', 'email': 'tessa@tls.example',
            'password': 'Tessa-Passw0rd-2026', 'flavour': 'residential',
            'billing_mode': 'prepaid', 'street': '3 Quay Street',
            'postal_code': 'BS1 4QA', 'city': 'Bristol', 'country': 'GB'})
    assert response.status_code == 303, response.text
    deadline = time.monotonic() + 30
    while not any(m['To'] == 'tessa@tls.example' for m in mailbox.messages):
        assert time.monotonic() < deadline, "no validation e-mail"
        time.sleep(0.2)
    message = next(m for m in mailbox.messages
        if m['To'] == 'tessa@tls.example')
    body = message.get_body(('html',)).get_content()
    link = re.search(r'href="([^"]+/signup/validate\?token=\w+)"', body)
    assert link.group(1).startswith(
        f"https://{BRAND_HOST}:{stack['ports']['https']}/signup/validate?")


def test_client_cannot_forge_its_address(stack):
    """A failed log-in is counted against the address the proxy saw, not the
    one a client writes in X-Forwarded-For (the log-in rate limit)"""
    client = stack['client']
    headers = brand_headers(stack)
    form = client.get(portal_url(stack, '/login'), headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    response = client.post(portal_url(stack, '/login'),
        headers={**headers, 'X-Forwarded-For': '203.0.113.9'},
        data={'csrf_token': token.group(1), 'email': 'forger@tls.example',
            'password': 'wrong-password-2026'})
    assert response.status_code in {200, 400, 401, 403}
    database = sqlite3.connect(stack['folder'] / 'demo.sqlite')
    try:
        addresses = {row[0] for row in database.execute(
                "SELECT ip_address FROM web_user_authenticate_attempt "
                "WHERE login = 'forger@tls.example'")}
    finally:
        database.close()
    assert addresses == {'127.0.0.1'}


def test_back_office_over_tls(stack):
    client = stack['client']
    base = f"https://127.0.0.1:{stack['ports']['backoffice']}"
    assert 'tryton-sao' in client.get(f'{base}/').text
    # The demo's administrator logs in through the proxy (JSON-RPC).
    login = client.post(f'{base}/demo/rpc/', json={
            'id': 1, 'method': 'common.db.login',
            'params': ['admin', {'password': 'owner-demo-2026'}, 'en']})
    assert login.json()['result'][0] == 1, login.text
