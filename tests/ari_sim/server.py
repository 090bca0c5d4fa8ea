"""A protocol-faithful simulator of Asterisk's REST interface (ARI).

It serves the subset of ARI that ``telecom-ari-bridge`` uses, REST and the
events WebSocket on one port as Asterisk's HTTP server does, with bodies,
status codes and events shaped as Asterisk 20/22 produce them (see
``rest-api/api-docs/{channels,events,applications,asterisk}.json`` and
``res/ari/resource_channels.c`` in the Asterisk tree):

- channel snapshots as ``ast_channel_snapshot_to_json`` writes them;
- timestamps as ``ast_json_timeval`` writes them (``...27.423+0300``);
- an application only receives a channel's events while it is subscribed to
  the channel: from ``StasisStart`` to ``StasisEnd``, or longer through an
  explicit ``POST /applications/{app}/subscription`` (or ``subscribeAll``);
  events published while its WebSocket is gone are lost, subscriptions stay;
- ``DELETE /channels/{id}`` takes ``reason_code`` (any Q.850 number) or
  ``reason`` (mapped as Asterisk maps it), not both.

Tests script calls through a Python API (``originate_inbound``, ``answer``,
``hangup``, ``drop_websockets``, ``advance``...) and read back every REST
request the simulator received in ``requests``.
"""
import asyncio
import base64
import datetime as dt
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from .causes import REASON_CODES, cause_text

__all__ = ['AriSimulator', 'Channel', 'RecordedRequest', 'format_timestamp']

# Channel states in which ARI refuses to move a channel in the dialplan or
# answer it (channel_state_invalid() in resource_channels.c).
_INVALID_CONTROL_STATES = {'Down', 'Rsrved', 'Ringing'}
# Asterisk's uniqueid is "<epoch>.<n>" with n counted over the life of the
# process. One count for every simulator of the test process: two tests'
# simulators started in the same second gave their first calls the same
# ids, and the second call was refused as a conflicting duplicate.
_SEQUENCE = itertools.count(1)
_RECORDED = web.RequestKey('recorded', bool)


def format_timestamp(value):
    "Format an aware datetime as Asterisk's ast_json_timeval does."
    return '%s.%03d%s' % (
        value.strftime('%Y-%m-%dT%H:%M:%S'), value.microsecond // 1000,
        value.strftime('%z'))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    status: int
    at: float


@dataclass
class Channel:
    id: str
    name: str
    state: str
    protocol_id: str
    caller_name: str
    caller_number: str
    accountcode: str
    context: str
    exten: str
    priority: int
    app_name: str
    app_data: str
    creationtime: dt.datetime
    language: str = 'en'
    connected_name: str = ''
    connected_number: str = ''
    variables: dict = field(default_factory=dict)
    # app name -> subscription count (Stasis membership and explicit ones)
    subscriptions: dict = field(default_factory=dict)
    stasis_app: str = None
    answered_at: dt.datetime = None
    hangup_cause: int = None
    destroyed: bool = False
    # media whispered to the channel through snoop channels (what its
    # caller heard), and the snooped channel of a snoop channel
    whispered: list = field(default_factory=list)
    snooping: str = None


class _App:
    def __init__(self, name):
        self.name = name
        self.connection = None
        self.subscribe_all = False


class _Connection:
    "One events WebSocket; a writer task keeps events in publication order."

    def __init__(self, ws, request, apps):
        self.ws = ws
        self.request = request
        self.apps = apps
        self.queue = asyncio.Queue()
        self.writer = asyncio.ensure_future(self._write())

    async def _write(self):
        while True:
            message = await self.queue.get()
            if message is None:
                return
            try:
                await self.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                return

    def send(self, message):
        self.queue.put_nowait(
            message if isinstance(message, str) else json.dumps(message))

    def abort(self):
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.queue.put_nowait(None)


class AriSimulator:
    """Asterisk as an ARI application sees it.

    ``tz`` is the zone of Asterisk's clock (default: this machine's);
    ``channelvars`` is ari.conf's ``channelvars`` list.
    """

    def __init__(self, *, user='asterisk', password='asterisk',
            host='127.0.0.1', port=0, tz=None, channelvars=(),
            asterisk_id='52:54:00:12:34:56', system_name='asterisk-sim',
            dialplan=None):
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.tz = tz
        self.channelvars = list(channelvars)
        self.asterisk_id = asterisk_id
        self.system_name = system_name
        self.dialplan = dialplan or shipped_dialplan
        self.requests = []
        # (method, path) of every REST request as it arrives, before it is
        # handled (``requests`` records it once answered)
        self.received = []
        # seconds a channel variable read waits between reading the value
        # and answering: Asterisk's answer still in flight (a loaded
        # machine) while the channel's next events are sent
        self.variable_delay = 0.0
        self.channels = {}
        self.destroyed = {}
        self._apps = {}
        self._connections = set()
        self._offset = dt.timedelta()
        self._sequence = _SEQUENCE
        self._refuse_websockets = False
        self._runner = None
        self._started = None
        self._changed = asyncio.Event()

    # -- server lifecycle ----------------------------------------------------

    async def start(self):
        app = web.Application(middlewares=[self._record, self._authenticate])
        app.add_routes([
                web.get('/ari/asterisk/info', self._asterisk_info),
                web.get('/ari/events', self._events),
                web.get('/ari/channels', self._list_channels),
                web.get('/ari/channels/{id}', self._get_channel),
                web.delete('/ari/channels/{id}', self._hangup_channel),
                web.post('/ari/channels/{id}/continue', self._continue),
                web.post('/ari/channels/{id}/answer', self._answer),
                web.post('/ari/channels/{id}/variable', self._set_variable),
                web.post('/ari/channels/{id}/snoop', self._snoop),
                web.post('/ari/channels/{id}/play', self._play),
                web.get('/ari/channels/{id}/variable', self._get_variable),
                web.post('/ari/applications/{app}/subscription',
                    self._subscribe),
                web.delete('/ari/applications/{app}/subscription',
                    self._unsubscribe),
                ])
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._started = self.now()
        return self.port

    async def stop(self):
        for connection in list(self._connections):
            connection.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    @property
    def url(self):
        return 'http://%s:%s' % (self.host, self.port)

    # -- clock ---------------------------------------------------------------

    def now(self):
        value = dt.datetime.now(dt.timezone.utc) + self._offset
        return value.astimezone(self.tz)

    def advance(self, seconds):
        "Move Asterisk's clock forward (a call lasts without waiting)."
        self._offset += dt.timedelta(seconds=seconds)

    # -- test control: calls -------------------------------------------------

    def originate_inbound(self, caller, exten, args=(),
            context='from-customers', app='telecom', endpoint='alice',
            caller_name='', accountcode='', protocol_id=None, language='en'):
        """A call arrives on ``endpoint`` and the dialplan runs
        ``Stasis(app,args...)``: the channel is created ringing and enters the
        application.  Return the channel id."""
        registered = self._apps.get(app)
        if registered is None or registered.connection is None:
            raise RuntimeError("Stasis app '%s' not registered" % app)
        sequence = next(self._sequence)
        created = self.now()
        channel = Channel(
            id='%d.%d' % (int(time.time()), sequence),
            name='PJSIP/%s-%08x' % (endpoint, sequence),
            state='Ring',
            protocol_id=protocol_id or '%s@127.0.0.1' % uuid.uuid4(),
            caller_name=caller_name, caller_number=caller,
            accountcode=accountcode, context=context, exten=exten,
            priority=1, app_name='NoOp', app_data='', creationtime=created,
            language=language)
        self.channels[channel.id] = channel
        self._publish(channel, 'ChannelCreated')
        self._move(channel, 2, 'Stasis', ','.join([app, *args]))
        channel.stasis_app = app
        self._subscribe_channel(channel, app)
        self._publish(channel, 'StasisStart', args=list(args))
        return channel.id

    def answer(self, channel_id):
        "The called party answers (Dial bridges it): the channel goes Up."
        channel = self.channels[channel_id]
        self._set_state(channel, 'Up')

    def ring(self, channel_id):
        channel = self.channels[channel_id]
        self._set_state(channel, 'Ringing')

    def hangup(self, channel_id, cause=16):
        "One side hangs up (a BYE or a failed Dial) with a Q.850 cause."
        channel = self.channels[channel_id]
        self._publish(channel, 'ChannelHangupRequest', cause=cause)
        self._destroy(channel, cause)

    def channel(self, channel_id):
        return self.channels.get(channel_id) or self.destroyed.get(channel_id)

    def vanish(self, channel_id):
        """The channel is gone without any event reaching the application
        (a crash of its thread, a lost event): only ``GET /channels``
        tells."""
        channel = self.channels.pop(channel_id)
        channel.destroyed = True
        self.destroyed[channel_id] = channel
        self._notify()

    # -- test control: WebSockets --------------------------------------------

    def drop_websockets(self, refuse=False):
        """Kill every events WebSocket without a closing handshake; with
        ``refuse`` new ones are refused (503) until ``allow_websockets``."""
        self._refuse_websockets = refuse
        for connection in list(self._connections):
            self._detach(connection)
            connection.abort()

    def send_raw(self, app, text):
        "Push any text on the application's WebSocket (garbage tests)."
        self._apps[app].connection.send(text)

    def allow_websockets(self):
        self._refuse_websockets = False

    def app_connected(self, app):
        registered = self._apps.get(app)
        return bool(registered and registered.connection)

    @property
    def websocket_connects(self):
        return [r for r in self.requests
            if r.path == '/ari/events' and r.status == 101]

    # -- test control: waiting and reading -----------------------------------

    async def wait_for(self, predicate, timeout=5.0):
        "Wait until predicate() is true, re-checked on every state change."
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError('condition not met within %ss' % timeout)
            self._changed.clear()
            try:
                await asyncio.wait_for(
                    self._changed.wait(), min(remaining, 0.05))
            except asyncio.TimeoutError:
                pass

    async def wait_for_app(self, app, timeout=5.0):
        await self.wait_for(lambda: self.app_connected(app), timeout)

    def find_requests(self, method=None, path=None):
        return [r for r in self.requests
            if (method is None or r.method == method)
            and (path is None or r.path == path)]

    # -- internals: channel life ---------------------------------------------

    def _notify(self):
        self._changed.set()

    def _move(self, channel, priority, app_name, app_data):
        channel.priority = priority
        channel.app_name = app_name
        channel.app_data = app_data
        self._publish(channel, 'ChannelDialplan',
            dialplan_app=app_name, dialplan_app_data=app_data)

    def _set_state(self, channel, state):
        if channel.state == state:
            return
        channel.state = state
        if state == 'Up' and channel.answered_at is None:
            channel.answered_at = self.now()
        self._publish(channel, 'ChannelStateChange')

    def _subscribe_channel(self, channel, app):
        channel.subscriptions[app] = channel.subscriptions.get(app, 0) + 1

    def _unsubscribe_channel(self, channel, app):
        count = channel.subscriptions.get(app, 0) - 1
        if count > 0:
            channel.subscriptions[app] = count
        else:
            channel.subscriptions.pop(app, None)

    def _leave_stasis(self, channel):
        app = channel.stasis_app
        if app is None:
            return
        self._publish(channel, 'StasisEnd')
        channel.stasis_app = None
        self._unsubscribe_channel(channel, app)

    def _continue_in_dialplan(self, channel):
        self._leave_stasis(channel)
        if channel.destroyed:
            return
        step = self.dialplan(channel)
        if step is None:
            return
        app_name, app_data, cause = step
        self._move(channel, channel.priority + 1, app_name, app_data)
        if cause is not None:
            self._destroy(channel, cause)

    def _destroy(self, channel, cause):
        if channel.destroyed:
            return
        channel.hangup_cause = cause
        self._leave_stasis(channel)
        channel.destroyed = True
        self._publish(channel, 'ChannelDestroyed',
            cause=cause, cause_txt=cause_text(cause))
        channel.subscriptions.clear()
        self.channels.pop(channel.id, None)
        self.destroyed[channel.id] = channel
        # app_snoop's channel ends with the channel it spies on
        for snoop in list(self.channels.values()):
            if snoop.snooping == channel.id:
                self._destroy(snoop, cause)
        self._notify()

    # -- internals: JSON -----------------------------------------------------

    def channel_json(self, channel):
        "The Channel model (ast_channel_snapshot_to_json)."
        data = {
            'id': channel.id,
            'name': channel.name,
            'state': channel.state,
            'protocol_id': channel.protocol_id,
            'caller': {
                'name': channel.caller_name,
                'number': channel.caller_number,
                },
            'connected': {
                'name': channel.connected_name,
                'number': channel.connected_number,
                },
            'accountcode': channel.accountcode,
            'dialplan': {
                'context': channel.context,
                'exten': channel.exten,
                'priority': channel.priority,
                'app_name': channel.app_name,
                'app_data': channel.app_data,
                },
            'creationtime': format_timestamp(channel.creationtime),
            'language': channel.language,
            }
        if self.channelvars:
            data['channelvars'] = {
                name: self._read_variable(channel, name) or ''
                for name in self.channelvars}
        return data

    def _publish(self, channel, event_type, **fields):
        "Send an event to every application subscribed to the channel."
        self._notify()
        for name, app in self._apps.items():
            if app.connection is None:
                continue
            if not (app.subscribe_all or channel.subscriptions.get(name)):
                continue
            event = {'type': event_type,
                'timestamp': format_timestamp(self.now())}
            event.update(fields)
            event['channel'] = self.channel_json(channel)
            event['asterisk_id'] = self.asterisk_id
            event['application'] = name
            app.connection.send(event)

    def _read_variable(self, channel, name):
        "A variable or the CDR() function, None when unset."
        if name.startswith('CDR(') and name.endswith(')'):
            field_name, _, option = name[4:-1].partition(',')
            value = {'start': channel.creationtime,
                'answer': channel.answered_at}.get(field_name)
            if value is None:
                return ''
            if option == 'u':
                return '%.6f' % value.timestamp()
            return value.strftime('%Y-%m-%d %H:%M:%S')
        return channel.variables.get(name)

    # -- internals: HTTP -----------------------------------------------------

    @web.middleware
    async def _record(self, request, handler):
        self.received.append((request.method, request.path))
        self._notify()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exception:
            status = exception.status
            raise
        finally:
            if not request.get(_RECORDED):
                self._record_request(request, status)

    def _record_request(self, request, status):
        request[_RECORDED] = True
        self.requests.append(RecordedRequest(
                request.method, request.path, dict(request.query),
                status, time.monotonic()))
        self._notify()

    @web.middleware
    async def _authenticate(self, request, handler):
        expected = '%s:%s' % (self.user, self.password)
        given = request.query.get('api_key')
        header = request.headers.get('Authorization', '')
        if header.startswith('Basic '):
            try:
                given = base64.b64decode(header[6:]).decode()
            except ValueError:
                given = None
        if given != expected:
            return web.json_response(
                {'message': 'Authentication required'}, status=401,
                reason='Unauthorized', headers={
                    'WWW-Authenticate':
                    'Basic realm="Asterisk REST Interface"'})
        return await handler(request)

    @staticmethod
    def _error(status, reason, message):
        return web.json_response(
            {'message': message}, status=status, reason=reason)

    def _control(self, request, check_state=False):
        """find_control() (and channel_state_invalid() with check_state):
        the channel, or the ARI error to answer."""
        channel = self.channels.get(request.match_info['id'])
        if channel is None:
            return None, self._error(404, 'Not Found', 'Channel not found')
        if channel.stasis_app is None:
            return None, self._error(
                409, 'Conflict', 'Channel not in Stasis application')
        if check_state and channel.state in _INVALID_CONTROL_STATES:
            return None, self._error(
                412, 'Precondition Failed', 'Channel in invalid state')
        return channel, None

    async def _asterisk_info(self, request):
        started = format_timestamp(self._started)
        info = {
            'build': {
                'os': 'Linux', 'kernel': '6.1.0', 'machine': 'x86_64',
                'options': 'BUILD_NATIVE, OPTIONAL_API',
                'date': '2026-01-01 00:00:00 UTC', 'user': 'sim',
                },
            'system': {'version': '22.2.0', 'entity_id': self.asterisk_id},
            'config': {
                'name': self.system_name, 'default_language': 'en',
                'setid': {'user': 'asterisk', 'group': 'asterisk'},
                },
            'status': {'startup_time': started, 'last_reload_time': started},
            }
        only = request.query.get('only')
        if only:
            info = {k: v for k, v in info.items() if k in only.split(',')}
        return web.json_response(info)

    async def _list_channels(self, request):
        return web.json_response(
            [self.channel_json(c) for c in self.channels.values()])

    async def _get_channel(self, request):
        channel = self.channels.get(request.match_info['id'])
        if channel is None:
            return self._error(404, 'Not Found', 'Channel not found')
        return web.json_response(self.channel_json(channel))

    async def _hangup_channel(self, request):
        channel = self.channels.get(request.match_info['id'])
        if channel is None:
            return self._error(404, 'Not Found', 'Channel not found')
        reason = request.query.get('reason')
        reason_code = request.query.get('reason_code')
        if reason and reason_code:
            return self._error(400, 'Bad Request',
                "The reason and reason_code can't both be specified")
        if reason_code:
            try:
                cause = int(reason_code.strip().split()[0])
            except (ValueError, IndexError):
                return self._error(400, 'Invalid Reason Code',
                    'Invalid reason for hangup reason code provided')
        elif reason:
            cause = REASON_CODES.get(reason)
            if cause is None:
                return self._error(400, 'Invalid Reason',
                    'Invalid reason for hangup reason provided')
        else:
            cause = REASON_CODES['normal']
        self._publish(channel, 'ChannelHangupRequest', cause=cause, soft=True)
        # Asterisk answers before the channel thread tears the channel down.
        asyncio.get_running_loop().call_soon(self._destroy, channel, cause)
        return web.Response(status=204)

    async def _continue(self, request):
        channel, error = self._control(request, check_state=True)
        if error:
            return error
        if request.query.get('context') or request.query.get('extension'):
            channel.context = request.query.get('context') or channel.context
            channel.exten = request.query.get('extension') or 's'
            channel.priority = int(request.query.get('priority') or 1) - 1
        elif request.query.get('priority'):
            channel.priority = int(request.query['priority']) - 1
        asyncio.get_running_loop().call_soon(
            self._continue_in_dialplan, channel)
        return web.Response(status=204)

    async def _answer(self, request):
        channel, error = self._control(request, check_state=True)
        if error:
            return error
        self._set_state(channel, 'Up')
        return web.Response(status=204)

    async def _set_variable(self, request):
        variable = request.query.get('variable')
        if not variable:
            return self._error(
                400, 'Bad Request', 'Variable name is required')
        channel, error = self._control(request)
        if error:
            return error
        value = request.query.get('value', '')
        channel.variables[variable] = value
        self._publish(channel, 'ChannelVarset', variable=variable, value=value)
        return web.Response(status=204)

    async def _snoop(self, request):
        """``POST /channels/{id}/snoop``: a Snoop/ channel in the Stasis
        application ``app``; what is played on it with ``whisper=out`` is
        heard by the spied channel's caller."""
        target = self.channels.get(request.match_info['id'])
        if target is None:
            return self._error(404, 'Not Found', 'Channel not found')
        app = request.query.get('app')
        if not app:
            return self._error(400, 'Bad Request', 'Missing parameter app')
        registered = self._apps.get(app)
        if registered is None or registered.connection is None:
            return self._error(
                400, 'Bad Request', 'Stasis application not registered')
        sequence = next(self._sequence)
        snoop = Channel(
            id=request.query.get('snoopId') or '%d.%d' % (
                int(time.time()), sequence),
            name='Snoop/%s-%08x' % (target.id, sequence), state='Up',
            protocol_id='', caller_name='', caller_number='',
            accountcode='', context='default', exten='s', priority=1,
            app_name='Stasis', app_data=app, creationtime=self.now(),
            snooping=target.id)
        snoop.whispered = target.whispered if request.query.get(
            'whisper', 'none') in ('out', 'both') else []
        self.channels[snoop.id] = snoop
        snoop.stasis_app = app
        self._subscribe_channel(snoop, app)
        args = [a for a in request.query.get('appArgs', '').split(',') if a]
        self._publish(snoop, 'StasisStart', args=args)
        return web.json_response(self.channel_json(snoop))

    async def _play(self, request):
        channel, error = self._control(request)
        if error:
            return error
        media = request.query.get('media')
        if not media:
            return self._error(400, 'Bad Request', 'Missing parameter media')
        playback = {
            'id': request.query.get('playbackId') or str(uuid.uuid4()),
            'media_uri': media, 'target_uri': 'channel:%s' % channel.id,
            'language': channel.language, 'state': 'queued'}
        channel.whispered.append(media)

        def publish(kind, state):
            if channel.id in self.channels:
                self._publish_playback(channel, kind,
                    {**playback, 'state': state})
        loop = asyncio.get_running_loop()
        loop.call_soon(publish, 'PlaybackStarted', 'playing')
        loop.call_later(0.05, publish, 'PlaybackFinished', 'done')
        return web.json_response(playback, status=201)

    def _publish_playback(self, channel, kind, playback):
        for name, app in self._apps.items():
            if app.connection and channel.subscriptions.get(name):
                app.connection.send({'type': kind,
                        'timestamp': format_timestamp(self.now()),
                        'playback': playback,
                        'asterisk_id': self.asterisk_id,
                        'application': name})
        self._notify()

    async def _get_variable(self, request):
        variable = request.query.get('variable')
        if not variable:
            return self._error(
                400, 'Bad Request', 'Variable name is required')
        channel = self.channels.get(request.match_info['id'])
        if channel is None:
            return self._error(404, 'Channel Not Found',
                'Provided channel was not found')
        value = self._read_variable(channel, variable)
        if self.variable_delay:
            await asyncio.sleep(self.variable_delay)
        if value is None:
            return self._error(404, 'Variable Not Found',
                'Provided variable was not found')
        return web.json_response({'value': value})

    def _application_json(self, app):
        return {
            'name': app.name,
            'channel_ids': [c.id for c in self.channels.values()
                if c.subscriptions.get(app.name)],
            'bridge_ids': [], 'endpoint_ids': [], 'device_names': [],
            'events_allowed': [], 'events_disallowed': [],
            }

    def _event_sources(self, request):
        "The application and the channels of an eventSource, or an error."
        app = self._apps.get(request.match_info['app'])
        sources = [s for s in request.query.getall('eventSource', [])
            for s in s.split(',') if s]
        if not sources:
            return None, None, self._error(
                400, 'Bad Request', 'Missing parameter eventSource')
        if app is None:
            return None, None, self._error(
                404, 'Not Found', 'Application not found')
        channels = []
        for source in sources:
            scheme, _, ident = source.partition(':')
            if scheme != 'channel':
                return None, None, self._error(400, 'Bad Request',
                    'Invalid event source URI scheme')
            channel = self.channels.get(ident)
            if channel is None:
                return None, None, self._error(422, 'Unprocessable Entity',
                    'Event source does not exist')
            channels.append(channel)
        return app, channels, None

    async def _subscribe(self, request):
        return self._change_subscriptions(request, self._subscribe_channel)

    async def _unsubscribe(self, request):
        return self._change_subscriptions(request, self._unsubscribe_channel)

    def _change_subscriptions(self, request, change):
        app, channels, error = self._event_sources(request)
        if error:
            return error
        for channel in channels:
            change(channel, app.name)
        return web.json_response(self._application_json(app))

    async def _events(self, request):
        names = [n for n in request.query.get('app', '').split(',') if n]
        if not names:
            return self._error(400, 'Bad Request', "Missing param 'app'")
        if self._refuse_websockets:
            return self._error(
                503, 'Service Unavailable', 'WebSocket refused by test')
        ws = web.WebSocketResponse(protocols=('ari',), heartbeat=None)
        await ws.prepare(request)
        self._record_request(request, ws.status)
        connection = _Connection(ws, request, names)
        subscribe_all = (request.query.get('subscribeAll')
            or request.query.get('subscribe_all') or '').lower() in (
            'true', 'yes', '1')
        for name in names:
            app = self._apps.setdefault(name, _App(name))
            previous = app.connection
            if previous is not None and previous is not connection:
                previous.send({'type': 'ApplicationReplaced',
                        'timestamp': format_timestamp(self.now()),
                        'asterisk_id': self.asterisk_id,
                        'application': name})
            app.connection = connection
            app.subscribe_all = subscribe_all
        self._connections.add(connection)
        self._notify()
        try:
            async for _ in ws:
                pass
        finally:
            self._detach(connection)
            connection.queue.put_nowait(None)
        return ws

    def _detach(self, connection):
        "Deactivate the connection's applications (subscriptions remain)."
        self._connections.discard(connection)
        for app in self._apps.values():
            if app.connection is connection:
                app.connection = None
        self._notify()


def shipped_dialplan(channel):
    """What switch/asterisk/extensions.conf does after Stasis returns: no
    routes → Hangup(38); else Dial of the first route, with L() when a
    limit is set (the test then answers or hangs up as the carrier would).

    Return (app, app data, hangup cause or None to wait for the test)."""
    routes = channel.variables.get('TELECOM_ROUTES', '')
    if not routes:
        return 'Hangup', '38', 38
    limit = channel.variables.get('TELECOM_MAX_DURATION', '')
    data = '%s,60,' % routes.split('&')[0]
    if limit:
        data += 'L(%s000:60000:30000)' % limit
    return 'Dial', data, None
