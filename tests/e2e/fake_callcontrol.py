"""A small stand-in for the call-control API (v1), as Kamailio uses it.

It speaks the contract of switch/kamailio/README.md: ``POST /v1/authorize``
answers with whatever the test's ``policy`` returns, ``answer``/``end``
and ``/v1/cdrs`` are recorded. It keeps the books a real API keeps: which
authorized calls still hold a slot (``open_slots``) -- an ``end`` releases
it. It can be stopped and started again on the same port to play "API
down". Runs an aiohttp server in a thread of its own.
"""
import asyncio
import json
import threading
import time

from aiohttp import web

from trytond.modules.telecom_switch.api.server import switch_key

API_KEY = 'test-switch-key'


def rtjson_document(routes, fr_timer=None, fr_inv_timer=None):
    """The rtjson document the API returns for ``routes`` (dicts with
    carrier, gateway ``sip:host:port`` and dialstring), in order, for
    serial forking: one route per carrier, ``uri`` the dialstring at the
    gateway, ``dst_uri`` the gateway, ``carrier`` for the CDR."""
    out = []
    for route in routes:
        hostport = route['gateway'].split(':', 1)[1]
        entry = {
            'uri': 'sip:%s@%s' % (route['dialstring'], hostport),
            'dst_uri': route['gateway'],
            'carrier': route['carrier'],
            }
        if fr_timer:
            entry['fr_timer'] = fr_timer
        if fr_inv_timer:
            entry['fr_inv_timer'] = fr_inv_timer
        out.append(entry)
    return {'version': '1.0', 'routing': 'serial', 'routes': out}


def allow(routes, account='ACME-1', max_duration=None,
        price='0.0120', currency='EUR', **rtjson):
    return {
        'decision': 'allow',
        'reason': 'ok',
        'account': account,
        'max_duration': max_duration,
        'price_per_minute': price,
        'currency': currency,
        'routes': routes,
        'rtjson': rtjson_document(routes, **rtjson),
        }


def deny(reason, sip_code, q850):
    return {'decision': 'deny', 'reason': reason, 'q850': q850,
        'sip_code': sip_code}


class FakeCallControl:

    def __init__(self, host='127.0.0.1', port=0, api_key=API_KEY):
        self.host = host
        self.port = port
        self.api_key = api_key
        self.policy = lambda body: deny('unknown_account', 403, 21)
        self.delay = 0  # seconds added to every authorize
        # seconds added to every answer, end and CDR post
        self.event_delay = 0
        # a status every CDR post gets instead (a 5xx, a refusal)
        self.cdr_status = None
        self.requests = []  # (monotonic time, path, body)
        self.authorized = {}  # call_id -> authorize body, allowed calls
        self.ended = {}  # call_id -> end body
        self.answered = {}
        self.cdrs = {}  # (call_id, leg) -> CDR
        self.unauthenticated = 0
        # the client ends (address, port) of the connections requests came
        # on: a proxy that keeps its connections open reuses a few
        self.connections = set()
        self.lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
            daemon=True)
        self._runner = None
        self._site = None

    def reset(self):
        "Forget every request (between tests)."
        with self.lock:
            self.requests.clear()
            self.authorized.clear()
            self.ended.clear()
            self.answered.clear()
            self.cdrs.clear()
            self.unauthenticated = 0
            self.connections.clear()
            self.delay = 0
            self.event_delay = 0
            self.cdr_status = None

    # lifecycle -----------------------------------------------------------

    def start(self):
        if not self._thread.is_alive():
            self._thread.start()
        self._call(self._start())
        return self

    def stop(self):
        """Close the listening socket and every open connection: the API is
        down (connection refused)."""
        self._call(self._stop_site())

    def close(self):
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def url(self):
        return 'http://%s:%d' % (self.host, self.port)

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self):
        if self._runner is None:
            app = web.Application(client_max_size=1 << 20)
            app.router.add_post('/v1/authorize', self._authorize)
            app.router.add_post('/v1/calls/{call_id}/answer', self._answer)
            app.router.add_post('/v1/calls/{call_id}/end', self._end)
            app.router.add_post('/v1/cdrs', self._cdrs)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port,
            reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._site._server.sockets[0].getsockname()[1]

    async def _stop_site(self):
        if self._site is not None:
            await self._site.stop()
            self._site = None
            # and the connections a client keeps open: a dead API has none
            for handler in self._runner.server.connections:
                if handler.transport is not None:
                    handler.transport.close()

    async def _shutdown(self):
        await self._stop_site()
        if self._runner is not None:
            await self._runner.cleanup()

    # handlers ------------------------------------------------------------

    async def _body(self, request):
        with self.lock:
            self.connections.add(request.transport.get_extra_info('peername'))
        # the key as a bearer token or as the basic-auth password, as the
        # real API takes it (Kamailio sends the latter)
        if switch_key(request.headers.get('Authorization', '')) \
                != self.api_key:
            with self.lock:
                self.unauthenticated += 1
            raise web.HTTPUnauthorized(text='{"error": "bad api key"}',
                content_type='application/json')
        # Kamailio's http_client may send its own Content-Type: parse the
        # body as JSON whatever it says.
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise web.HTTPBadRequest(text='{"error": "malformed JSON"}',
                content_type='application/json')
        with self.lock:
            self.requests.append((time.monotonic(), request.path, body))
        if self.event_delay and not request.path.endswith('/authorize'):
            await asyncio.sleep(self.event_delay)
        return body

    async def _authorize(self, request):
        body = await self._body(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.policy(body)
        if answer.get('decision') == 'allow':
            with self.lock:
                self.authorized[body['call_id']] = body
        return web.json_response(answer)

    async def _answer(self, request):
        body = await self._body(request)
        with self.lock:
            self.answered[request.match_info['call_id']] = body
        return web.Response(status=204)

    async def _end(self, request):
        body = await self._body(request)
        with self.lock:
            self.ended[request.match_info['call_id']] = body
        return web.Response(status=204)

    async def _cdrs(self, request):
        body = await self._body(request)
        cdrs = body['cdrs'] if 'cdrs' in body else [body]
        if self.cdr_status:
            return web.json_response({'error': 'as the test asked'},
                status=self.cdr_status)
        accepted = duplicates = 0
        with self.lock:
            for cdr in cdrs:
                key = (cdr['call_id'], cdr['leg'])
                if key in self.cdrs:
                    duplicates += 1
                else:
                    self.cdrs[key] = cdr
                    accepted += 1
        return web.json_response({'accepted': accepted,
                'duplicates': duplicates, 'rejected': [], 'ignored': []})

    # what the tests look at ----------------------------------------------

    def paths(self):
        with self.lock:
            return [path for _, path, _ in self.requests]

    def open_slots(self):
        "Allowed calls whose ``end`` never came: leaked slots."
        with self.lock:
            return sorted(set(self.authorized) - set(self.ended))

    def wait(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.05)
        with self.lock:
            return predicate(self)
