"""A stand-in for the call-control API (v1) that records what it receives.

It can allow or deny, be down (connection refused, the port stays reserved
for its return), answer 503, answer slowly, or refuse CDRs as bad (422).
CDR ingest is idempotent on (call id, leg) like the real service.
"""
import asyncio

from aiohttp import web

ALLOW = {
    'decision': 'allow', 'reason': 'ok', 'account': 'ACC-1',
    'max_duration': 600, 'price_per_minute': '0.0120', 'currency': 'EUR',
    'routes': [
        {'carrier': 'A', 'gateway': 'gw-a',
            'dialstring': 'PJSIP/4930123456@carrier-a'},
        {'carrier': 'B', 'gateway': 'gw-b',
            'dialstring': 'PJSIP/4930123456@carrier-b'},
        ],
    'rtjson': {},
    }


class FakeCallControlApi:
    def __init__(self, api_key='test-key'):
        self.api_key = api_key
        self.port = 0
        self.authorize_answer = dict(ALLOW)
        self.failing = False        # answer 503 to everything
        self.reject_cdrs = False    # answer 422 to CDR posts
        self.delay = 0.0
        self.requests = []          # (path, json body) in arrival order
        self.cdrs = {}              # (call_id, leg) -> CDR, stored once
        self.cdr_order = []         # call ids in the order stored
        self.duplicates = 0
        # answers to interim updates, in order (503 when none is left)
        self.update_answers = []
        self._runner = None

    @property
    def url(self):
        return 'http://127.0.0.1:%s' % self.port

    async def start(self):
        app = web.Application()
        app.add_routes([
                web.post('/v1/authorize', self._authorize),
                web.post('/v1/calls/{call_id}/answer', self._call_event),
                web.post('/v1/calls/{call_id}/end', self._call_event),
                web.post('/v1/calls/{call_id}/update', self._update),
                web.post('/v1/reconcile', self._reconcile),
                web.post('/v1/cdrs', self._cdrs),
                ])
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self):
        "Go down: connections are refused until start() again."
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def deny(self, reason='insufficient_credit', q850=34):
        self.authorize_answer = {
            'decision': 'deny', 'reason': reason, 'q850': q850}

    def posts(self, path):
        return [body for p, body in self.requests if p == path]

    def posts_for_call(self, call_id, kind):
        return [body for p, body in self.requests
            if p == '/v1/calls/%s/%s' % (call_id, kind)]

    def cdr_posts_for(self, call_id):
        "How many times a CDR of the call reached the API (with replays)."
        count = 0
        for body in self.posts('/v1/cdrs'):
            for cdr in body.get('cdrs', [body]):
                count += cdr.get('call_id') == call_id
        return count

    async def _receive(self, request):
        if request.headers.get('Authorization') != 'Bearer %s' % self.api_key:
            raise web.HTTPUnauthorized()
        body = await request.json()
        self.requests.append((request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            raise web.HTTPServiceUnavailable()
        return body

    async def _authorize(self, request):
        await self._receive(request)
        return web.json_response(self.authorize_answer)

    async def _call_event(self, request):
        await self._receive(request)
        return web.Response(status=204)

    async def _update(self, request):
        await self._receive(request)
        if not self.update_answers:
            raise web.HTTPServiceUnavailable()
        return web.json_response(self.update_answers.pop(0))

    async def _reconcile(self, request):
        await self._receive(request)
        return web.json_response({'released': 0})

    async def _cdrs(self, request):
        body = await self._receive(request)
        if self.reject_cdrs:
            return web.json_response(
                {'error': 'invalid CDR', 'field': 'start'}, status=422)
        accepted = duplicates = 0
        for cdr in body.get('cdrs', [body]):
            key = (cdr['call_id'], cdr['leg'])
            if key in self.cdrs:
                duplicates += 1
            else:
                self.cdrs[key] = cdr
                self.cdr_order.append(cdr['call_id'])
                accepted += 1
        self.duplicates += duplicates
        return web.json_response({
                'accepted': accepted, 'duplicates': duplicates,
                'rejected': []})
