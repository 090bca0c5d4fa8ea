"""telecom-ari-bridge: Asterisk's calls under the call-control API.

The bridge is a Stasis application.  For each channel entering it
(``StasisStart``) it asks the API to authorize the call, then either sets
the routing variables and continues the dialplan (which dials with ``L()``)
or hangs the channel up with the API's Q.850 cause.  It follows the channel
to its end and posts the answer, the end and the CDR through the journal
(see journal.py), so an API outage loses nothing.

When a channel leaves Stasis (``continue``, or a hangup while the bridge
decides) Asterisk drops the application's subscription to it at
``StasisEnd``, so ``ChannelDestroyed`` would never arrive: the bridge
subscribes explicitly (``POST /applications/{app}/subscription``) as soon as
the channel enters, and so sees every call to its end.

After every (re)connection of the events WebSocket the bridge reconciles
with ``GET /channels``: calls it followed that vanished while it was deaf
get their CDR from what it knows; channels it did not know but that carry
its variables (a restart) or wait in its application are adopted.
"""
import asyncio
import base64
import collections
import datetime as dt
import json
import random
import signal
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from . import logs
from .api import ApiRejected, ApiUnavailable, CallControlClient
from .cdr import Call, digits, iso, now, parse_ari_time
from .config import parse_config
from .journal import Journal
from .outbox import CDRS, Outbox

# Q.850 causes the bridge hangs up with on its own
NETWORK_OUT_OF_ORDER = 38   # billing unreachable: fail closed
CALL_REJECTED = 21          # a deny without a usable cause
NO_ROUTE = 3                # an allow without a usable route
NORMAL_CLEARING = 16        # assumed end of a call seen vanishing
# TELECOM_AUTH of a call allowed in slices (else allow, emergency)
SLICED = 'sliced'

_RECENTLY_FINISHED = 10000


class AriError(Exception):
    def __init__(self, status, text):
        super().__init__('ARI HTTP %s: %s' % (status, text))
        self.status = status


def parse_stasis_args(args):
    """``Stasis(telecom,direction=outbound,user=alice,ip=...)`` arguments
    as a dict; a bare first argument is the direction."""
    options = {}
    for index, arg in enumerate(args):
        key, sep, value = arg.partition('=')
        if sep:
            options[key.strip()] = value.strip()
        elif index == 0 and arg:
            options['direction'] = arg.strip()
    return options


def endpoint_of(channel_name):
    "'PJSIP/alice-00000001' -> 'alice'"
    resource = channel_name.partition('/')[2]
    return resource.rpartition('-')[0] or resource or None


class Bridge:
    def __init__(self, config, api=None):
        self.config = config
        self.ari = httpx.AsyncClient(
            base_url=config.ari_url.rstrip('/') + '/ari',
            auth=(config.ari_user, config.ari_password),
            timeout=config.ari_timeout)
        self.api = api or CallControlClient(config.api_url, config.api_key,
            timeout=config.api_timeout,
            authorize_timeout=config.authorize_timeout)
        self.journal = Journal(config.spool_dir)
        self.outbox = Outbox(self.journal, self.api, config.retry_initial,
            config.retry_max, config.batch_size)
        self.calls = {}
        self.finished = collections.OrderedDict()
        # the Snoop/ channels whispering a warning (hung up once played)
        self._snoops = set()
        self.connected = asyncio.Event()
        self.connections = 0
        # Asterisk's clock minus ours, learnt from event timestamps: used
        # when the bridge must date something itself
        self._skew = dt.timedelta()
        self._stopping = asyncio.Event()
        self._tasks = set()

    # -- lifecycle -----------------------------------------------------------

    def stop(self):
        self._stopping.set()

    async def run(self):
        outbox = asyncio.ensure_future(self.outbox.run())
        listener = asyncio.ensure_future(self._listen())
        reconciler = asyncio.ensure_future(self._reconcile_every())
        await self._stopping.wait()
        listener.cancel()
        reconciler.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(listener, reconciler, *self._tasks,
            return_exceptions=True)
        drained = await self.outbox.drain(self.config.shutdown_grace)
        outbox.cancel()
        await asyncio.gather(outbox, return_exceptions=True)
        self.journal.close()
        await self.ari.aclose()
        await self.api.aclose()
        logs.info('bridge stopped', drained=drained,
            journaled=len(self.journal.pending), live_calls=len(self.calls))

    def _spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logs.error('task failed', error=repr(task.exception()))

    # -- events WebSocket ----------------------------------------------------

    def _events_url(self):
        parts = urlsplit(self.config.ari_url)
        scheme = 'wss' if parts.scheme == 'https' else 'ws'
        path = parts.path.rstrip('/') + '/ari/events'
        return urlunsplit((scheme, parts.netloc, path,
                'app=%s' % quote(self.config.app), ''))

    async def _listen(self):
        url = self._events_url()
        credentials = base64.b64encode(('%s:%s' % (
                    self.config.ari_user, self.config.ari_password)).encode())
        headers = {'Authorization': 'Basic %s' % credentials.decode()}
        delay = self.config.reconnect_initial
        while True:
            try:
                async with connect(url, additional_headers=headers,
                        open_timeout=self.config.ari_timeout,
                        max_size=None) as ws:
                    delay = self.config.reconnect_initial
                    self.connections += 1
                    self.connected.set()
                    logs.info('events connected', url=url,
                        connection=self.connections)
                    self._spawn(self._reconcile())
                    async for message in ws:
                        self._on_message(message)
                    logs.warning('events closed by Asterisk')
            except InvalidStatus as exception:
                status = exception.response.status_code
                (logs.error if status in (401, 403) else logs.warning)(
                    'events connection refused', status=status)
            except (OSError, WebSocketException,
                    asyncio.TimeoutError) as exception:
                logs.warning('events connection lost',
                    error='%s: %s' % (type(exception).__name__, exception))
            finally:
                self.connected.clear()
            wait = random.uniform(delay / 2, delay)
            logs.info('events reconnecting', in_seconds=round(wait, 3))
            await asyncio.sleep(wait)
            delay = min(delay * 2, self.config.reconnect_max)

    def _on_message(self, message):
        try:
            event = json.loads(message)
        except ValueError:
            logs.warning('malformed event ignored', size=len(message))
            return
        if not isinstance(event, dict):
            logs.warning('malformed event ignored', size=len(message))
            return
        try:
            self._dispatch(event)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            logs.warning('event with unexpected shape ignored',
                type=event.get('type'), error=repr(error))

    def _event_time(self, event):
        try:
            stamp = parse_ari_time(event['timestamp'])
        except (KeyError, TypeError, ValueError):
            return now() + self._skew
        self._skew = stamp - now()
        return stamp

    def _dispatch(self, event):
        kind = event.get('type')
        channel = event.get('channel')
        if kind == 'PlaybackFinished':
            self._played(event.get('playback') or {})
            return
        if kind == 'ApplicationReplaced':
            logs.error('another client took the Stasis application over',
                app=self.config.app)
            return
        if kind == 'Dial':
            # The dial to a carrier: ringing, progress or answer ends
            # its post-dial delay (the CDR's pdd_ms)
            caller = event.get('caller')
            call = self._call_for(caller) if isinstance(
                caller, dict) else None
            if call and event.get('dialstatus') in (
                    'RINGING', 'PROGRESS', 'ANSWER'):
                call.progressed(self._event_time(event))
            return
        if not isinstance(channel, dict):
            return
        if kind == 'StasisStart':
            self._on_stasis_start(channel, event.get('args') or [])
        elif kind == 'ChannelStateChange':
            call = self._call_for(channel)
            if call and channel['state'] in ('Ringing', 'Up'):
                call.progressed(self._event_time(event))
            if call and channel['state'] == 'Up' and call.answer is None:
                self._answered(call, self._event_time(event))
        elif kind == 'ChannelHangupRequest':
            call = self.calls.get(channel['id'])
            if call and event.get('cause') is not None:
                call.hangup_cause = int(event['cause'])
        elif kind == 'ChannelDestroyed':
            call = self._call_for(channel)
            if call is None:
                return
            end = self._event_time(event)
            cause = int(event.get('cause') or 0)
            if call.learning is not None and not call.learning.done():
                # Answered while the bridge was deaf and Asterisk's
                # answer time is on its way: closing the CDR now would
                # bill the call as unanswered.
                self._spawn(self._finish_when_learnt(call, end, cause))
            else:
                self._finish(call, end, cause)

    # -- calls ---------------------------------------------------------------

    def _new_call(self, channel, options):
        direction = options.get('direction') or 'outbound'
        callee = options.get('did') or channel['dialplan']['exten']
        call = Call(
            channel_id=channel['id'],
            direction=direction,
            caller=digits(channel['caller']['number']),
            callee=digits(callee),
            start=parse_ari_time(channel['creationtime']),
            # Stasis(telecom,...,service=fax) from a fax context
            service=options.get('service') or 'voice')
        self.calls[call.channel_id] = call
        return call

    def _on_stasis_start(self, channel, args):
        if channel['id'] in self.calls or channel['id'] in self.finished:
            return
        if channel.get('name', '').startswith('Snoop/'):
            return      # the bridge's own, to whisper a warning
        options = parse_stasis_args(args)
        call = self._new_call(channel, options)
        self._spawn(self._decide(call, channel, options))

    def _call_for(self, channel):
        "The tracked call of a channel, adopting one a previous run routed."
        call = self.calls.get(channel['id'])
        if call or channel['id'] in self.finished:
            return call
        variables = channel.get('channelvars') or {}
        if variables.get('TELECOM_AUTH'):
            return self._adopt_routed(channel, variables)
        return None

    def _answered(self, call, when):
        call.answer = when
        logs.info('call answered', call_id=call.channel_id)
        if call.authorized:
            self.outbox.submit('/v1/calls/%s/answer' % quote(
                    call.channel_id, safe=''),
                {'leg': 'a', 'answered_at': iso(when)})
        if call.granted is not None and call.slicer is None:
            call.slicer = self._spawn(self._slices(call))

    def _finish(self, call, end, cause):
        if call.finished:
            return
        if call.answer is None and call.seen_up is not None:
            # Asterisk's answer time never came (timed out, the bridge
            # stopping)
            self._answered_when_seen_up(call)
        call.finished = True
        if call.slicer is not None:
            call.slicer.cancel()
        self.calls.pop(call.channel_id, None)
        self.finished[call.channel_id] = True
        while len(self.finished) > _RECENTLY_FINISHED:
            self.finished.popitem(last=False)
        cdr = call.cdr(end, cause)
        self.outbox.submit(CDRS, cdr)
        if call.authorized:
            self._post_end(call, end, cause)
        logs.info('call ended', call_id=call.channel_id, cause=cause,
            disposition=cdr['disposition'],
            billable_seconds=cdr['billable_seconds'])

    def _post_end(self, call, end, cause):
        self.outbox.submit('/v1/calls/%s/end' % quote(
                call.channel_id, safe=''),
            {'leg': 'a', 'ended_at': iso(end), 'cause': cause})

    async def _decide(self, call, channel, options):
        "Authorize the call, then route it or hang it up."
        request = {
            'call_id': call.channel_id,
            'leg': 'a',
            'direction': call.direction,
            'caller': call.caller,
            'callee': call.callee,
            'sip_username': options.get('user')
            or endpoint_of(channel.get('name', '')),
            'source_ip': options.get('ip') or None,
            'sip_domain': options.get('domain') or None,
            'service': call.service,
            # a call of an account with a balance or a credit limit is
            # granted a slice at a time, extended by ``update`` (_slices)
            'interim_updates': True,
            }
        emergency = call.callee in self.config.emergency_numbers
        if not await self._follow(call):
            return
        try:
            answer = await self.api.authorize(request)
            if not isinstance(answer, dict):
                raise ApiUnavailable('authorize answer is not an object')
        except (ApiUnavailable, ApiRejected) as exception:
            logs.error('authorize failed', call_id=call.channel_id,
                error=str(exception), emergency=emergency)
            if emergency:
                await self._route_emergency(call)
            else:
                await self._hangup(call, NETWORK_OUT_OF_ORDER)
            return
        if answer.get('decision') == 'allow':
            await self._allow(call, answer, emergency)
        elif emergency:
            logs.warning('API refused an emergency call; routing it anyway',
                call_id=call.channel_id, reason=answer.get('reason'))
            await self._route_emergency(call)
        else:
            q850 = answer.get('q850')
            if not isinstance(q850, int) or not 0 < q850 < 128:
                q850 = CALL_REJECTED
            logs.info('call denied', call_id=call.channel_id,
                reason=answer.get('reason'), q850=q850)
            await self._hangup(call, q850)

    async def _allow(self, call, answer, emergency):
        # the API now holds a concurrency slot and a reservation: from here
        # on the call's end must be posted whatever happens
        call.authorized = True
        call.account = answer.get('account')
        if call.finished:
            self._post_end(call, now() + self._skew, call.hangup_cause or 0)
            return
        routes = []
        for route in answer.get('routes') or []:
            dialstring = route.get('dialstring') if isinstance(
                route, dict) else None
            # a comma or & inside would inject Dial() arguments or targets
            if (isinstance(dialstring, str) and dialstring
                    and not set(dialstring) & set(',&|\n')):
                routes.append(dialstring)
            else:
                logs.error('unusable route ignored', call_id=call.channel_id,
                    route=route)
        max_duration = answer.get('max_duration')
        if max_duration is not None and (
                not isinstance(max_duration, int) or max_duration < 1):
            logs.error('unusable max_duration', call_id=call.channel_id,
                max_duration=max_duration)
            await self._hangup(call, CALL_REJECTED)
            return
        if not routes:
            if emergency:
                await self._route_emergency(call)
                return
            logs.error('allowed call without usable routes',
                call_id=call.channel_id)
            await self._hangup(call, NO_ROUTE)
            return
        auth = 'allow'
        if max_duration is not None and answer.get('final') is False:
            # A slice: the bridge extends it and cuts the call when the
            # money ends (_slices), Dial gets no L() limit; TELECOM_AUTH
            # tells the next run of the bridge, should it adopt the call.
            call.granted, max_duration, auth = max_duration, None, SLICED
        await self._route(call, routes, max_duration, answer.get('account'),
            answer.get('price_per_minute'), auth)

    async def _route_emergency(self, call):
        dialstring = self.config.emergency_dialstring.format(
            number=call.callee)
        await self._route(call, [dialstring], None, None, None, 'emergency')

    async def _route(self, call, routes, max_duration, account, price, auth):
        channel_id = quote(call.channel_id, safe='')
        variables = [
            ('TELECOM_ROUTES', '&'.join(routes)),
            ('TELECOM_MAX_DURATION',
                '' if max_duration is None else str(max_duration)),
            ('TELECOM_ACCOUNT', account or ''),
            ('TELECOM_PRICE', '' if price is None else str(price)),
            ('TELECOM_DIRECTION', call.direction),
            ('TELECOM_AUTH', auth),
            ]
        try:
            for name, value in variables:
                await self._ari('POST', '/channels/%s/variable' % channel_id,
                    params={'variable': name, 'value': value})
            # the dialplan dials the carriers now: PDD runs from here
            call.dialled = now() + self._skew
            await self._ari('POST', '/channels/%s/continue' % channel_id)
        except AriError as exception:
            if exception.status in (404, 422):
                logs.info('channel gone before it was routed',
                    call_id=call.channel_id)
            else:
                logs.error('routing failed', call_id=call.channel_id,
                    error=str(exception))
            return
        except httpx.HTTPError as exception:
            logs.error('ARI unreachable while routing',
                call_id=call.channel_id, error=repr(exception))
            return
        logs.info('call routed', call_id=call.channel_id, auth=auth,
            routes=len(routes), max_duration=max_duration,
            granted=call.granted, account=account)

    # -- slices: interim updates ---------------------------------------------

    def _remaining(self, call):
        "Seconds left of what the API granted the answered call"
        return call.granted - (now() + self._skew - call.answer).total_seconds()

    async def _slices(self, call):
        """Keep an answered call within the seconds the API granted it:
        ask for more ``--update-before`` seconds before they end; once the
        grant is final, whisper the warning (F22) ``--warning-before``
        seconds before its end and hang up at it. Dial cannot change its
        L() limit and ARI sets no variable of a channel out of Stasis, so
        the bridge cuts the call itself."""
        while not call.final:
            await asyncio.sleep(max(0.0,
                    self._remaining(call) - self.config.update_before))
            await self._extend(call)
            if call.granted is None:
                return      # no money limit any more
        await asyncio.sleep(max(0.0,
                self._remaining(call) - self.config.warning_before))
        if self._remaining(call) > 0:
            await self._warn(call)
        await asyncio.sleep(max(0.0, self._remaining(call)))
        logs.info('money of the call ended: hanging up',
            call_id=call.channel_id, granted=call.granted)
        await self._hangup(call, NORMAL_CLEARING)

    async def _extend(self, call):
        """Ask the API for one more slice; while it cannot answer, again
        until the granted time ends (then it was the last: fail closed)."""
        path = '/v1/calls/%s/update' % quote(call.channel_id, safe='')
        while True:
            try:
                answer = await self.api.post(path, {'leg': 'a'},
                    timeout=self.config.authorize_timeout)
                break
            except ApiUnavailable as exception:
                remaining = self._remaining(call)
                logs.warning('update failed; retrying', error=str(exception),
                    call_id=call.channel_id, remaining=round(remaining, 3))
                if remaining <= 0:
                    call.final = True
                    return
                await asyncio.sleep(min(self.config.retry_initial, remaining))
            except ApiRejected as exception:
                # no live call by this id (any more): what was granted is
                # all the call gets
                logs.error('update refused', call_id=call.channel_id,
                    error=str(exception))
                call.final = True
                return
        granted = answer.get('max_duration') if isinstance(
            answer, dict) else 0
        if granted is None:
            logs.info('call no longer limited', call_id=call.channel_id)
            call.granted = None
            return
        if not isinstance(granted, int):
            logs.error('unusable update answer', call_id=call.channel_id,
                answer=answer)
            call.final = True
            return
        call.granted = max(call.granted, granted)
        call.final = answer.get('final') is not False
        logs.info('call extended', call_id=call.channel_id,
            granted=call.granted, final=call.final)

    async def _warn(self, call):
        """Whisper the warning to the caller: a channel out of Stasis
        plays nothing, a Snoop/ channel on it (in the application) can."""
        channel_id = quote(call.channel_id, safe='')
        try:
            snoop = (await self._ari('POST', '/channels/%s/snoop' % channel_id,
                    params={'app': self.config.app, 'spy': 'none',
                        'whisper': 'out'})).json()['id']
            self._snoops.add(snoop)
            await self._ari('POST', '/channels/%s/play' % quote(
                    snoop, safe=''),
                params={'media': self.config.warning_media})
        except (AriError, httpx.HTTPError, ValueError, KeyError,
                TypeError) as exception:
            logs.warning('warning not played', call_id=call.channel_id,
                error=repr(exception))
            return
        logs.info('warning played', call_id=call.channel_id,
            remaining=round(self._remaining(call), 3))

    def _played(self, playback):
        "A warning played: its Snoop/ channel is hung up."
        target = playback.get('target_uri') or ''
        snoop = target.partition(':')[2]
        if target.startswith('channel:') and snoop in self._snoops:
            self._snoops.discard(snoop)
            self._spawn(self._ari('DELETE', '/channels/%s' % quote(
                        snoop, safe='')))

    async def _follow(self, call):
        """Subscribe to the channel's events beyond Stasis; if it is already
        gone, close its CDR now and return False."""
        try:
            await self._ari('POST', '/applications/%s/subscription' % quote(
                    self.config.app, safe=''),
                params={'eventSource': 'channel:%s' % call.channel_id})
        except AriError as exception:
            if exception.status not in (404, 422):
                logs.error('subscription failed', call_id=call.channel_id,
                    error=str(exception))
                return True
        except httpx.HTTPError as exception:
            logs.error('ARI unreachable while subscribing',
                call_id=call.channel_id, error=repr(exception))
            return True
        else:
            return True
        logs.info('channel gone on arrival', call_id=call.channel_id)
        self._finish(call, now() + self._skew,
            call.hangup_cause or NORMAL_CLEARING)
        return False

    async def _hangup(self, call, q850):
        try:
            await self._ari('DELETE', '/channels/%s' % quote(
                    call.channel_id, safe=''),
                params={'reason_code': str(q850)})
        except AriError as exception:
            if exception.status != 404:
                logs.error('hangup failed', call_id=call.channel_id,
                    error=str(exception))
        except httpx.HTTPError as exception:
            logs.error('ARI unreachable while hanging up',
                call_id=call.channel_id, error=repr(exception))

    async def _ari(self, method, path, params=None):
        response = await self.ari.request(method, path, params=params)
        if response.status_code >= 400:
            raise AriError(response.status_code, response.text[:200])
        return response

    # -- reconciliation ------------------------------------------------------

    async def _reconcile_every(self):
        """Every ``--reconcile-interval`` seconds, as after a reconnection:
        a call whose channel vanished without its events is closed, and
        the API frees the slots of calls Asterisk no longer has (a call of
        a lost spool or run, a call admitted while the bridge gave up)."""
        while True:
            await asyncio.sleep(self.config.reconcile_interval)
            if self.connected.is_set():
                await self._reconcile()

    async def _reconcile(self):
        try:
            channels = (await self._ari('GET', '/channels')).json()
        except (AriError, httpx.HTTPError, ValueError) as exception:
            logs.warning('reconcile failed', error=repr(exception))
            return
        live = {c['id']: c for c in channels
            if isinstance(c, dict) and 'id' in c
            and not str(c.get('name', '')).startswith('Snoop/')}
        self._spawn(self._report_live(list(live)))
        vanished = [call for channel_id, call in self.calls.items()
            if channel_id not in live]
        for call in vanished:
            self._spawn(self._finish_vanished(call))
        # when Asterisk said Up: the answer time if it cannot tell its own
        noticed = now() + self._skew
        learning = []
        for channel_id, call in list(self.calls.items()):
            channel = live.get(channel_id)
            if (channel and channel.get('state') == 'Up' and not call.answer
                    and call.learning is None):
                call.seen_up = noticed
                call.learning = self._spawn(self._learn_answer(call))
                learning.append(call.learning)
        if learning:
            await asyncio.wait(learning)
        adopted = 0
        for channel_id, channel in live.items():
            if channel_id in self.calls or channel_id in self.finished:
                continue
            try:
                adopted += await self._adopt(channel)
            except (AriError, httpx.HTTPError, KeyError, TypeError,
                    ValueError) as exception:
                logs.warning('adoption failed', call_id=channel_id,
                    error=repr(exception))
        logs.info('reconciled', live_channels=len(live),
            tracked=len(self.calls), vanished=len(vanished), adopted=adopted)

    async def _report_live(self, channel_ids):
        """Send Asterisk's channels to the API (``POST /v1/reconcile``): it
        ends its live calls of this switch authorized over a minute ago
        that are not among them (newer ones may postdate the list). Not
        journaled: the next list replaces a lost one."""
        try:
            answer = await self.api.post('/v1/reconcile', {'calls': [
                        {'call_id': c, 'leg': 'a'} for c in channel_ids]})
        except (ApiUnavailable, ApiRejected) as exception:
            logs.warning('reconcile not sent to the API',
                error=str(exception))
            return
        released = (answer or {}).get('released')
        if released:
            logs.warning('the API released calls Asterisk no longer has',
                released=released)

    async def _learn_answer(self, call):
        """The call was answered while the bridge was deaf: ask Asterisk
        when (its CDR's answer time); if it cannot tell, when the channel
        list showed it Up — never later than its end."""
        try:
            stamp = await self._variable(call.channel_id, 'CDR(answer,u)')
        except (AriError, httpx.HTTPError, ValueError) as exception:
            logs.warning('answer time unknown', call_id=call.channel_id,
                error=repr(exception))
            stamp = None
        if call.answer or call.finished:
            return
        answer = _from_epoch(stamp)
        if answer is None:
            self._answered_when_seen_up(call)
        else:
            self._answered(call, answer)

    def _answered_when_seen_up(self, call):
        logs.warning('answer time unknown: billed from when the bridge saw '
            'the call up', call_id=call.channel_id)
        self._answered(call, call.seen_up)

    async def _finish_when_learnt(self, call, end, cause):
        """The call's end, once its answer time is known (or not coming);
        also when the bridge stops meanwhile: the channel is gone, no
        later run would see it."""
        try:
            await asyncio.wait(
                {call.learning}, timeout=self.config.ari_timeout)
        finally:
            self._finish(call, end, cause)

    async def _finish_vanished(self, call):
        # its ChannelDestroyed may still be in flight on the new socket
        await asyncio.sleep(self.config.reconcile_grace)
        if call.finished:
            return
        logs.warning('call vanished while events were down; '
            'end time is when the bridge noticed', call_id=call.channel_id)
        self._finish(call, now() + self._skew,
            call.hangup_cause or NORMAL_CLEARING)

    async def _adopt(self, channel):
        "Take over a live channel of ours the bridge does not follow."
        dialplan = channel['dialplan']
        app, *args = dialplan.get('app_data', '').split(',')
        if dialplan.get('app_name') == 'Stasis' and app == self.config.app:
            # it entered the application while nobody listened: decide now
            logs.info('adopting a channel waiting in Stasis',
                call_id=channel['id'])
            self._on_stasis_start(channel, args)
            return True
        variables = dict(channel.get('channelvars') or {})
        if 'TELECOM_AUTH' not in variables:
            # ari.conf has no channelvars: ask for each variable
            for name in ('TELECOM_AUTH', 'TELECOM_DIRECTION',
                    'TELECOM_ACCOUNT'):
                variables[name] = await self._variable(channel['id'], name)
                if not variables['TELECOM_AUTH']:
                    return False
        if not variables.get('TELECOM_AUTH'):
            return False
        if channel['state'] == 'Up':
            variables['CDR(answer,u)'] = await self._variable(
                channel['id'], 'CDR(answer,u)')
        if channel['id'] in self.calls or channel['id'] in self.finished:
            # its events (a ChannelDestroyed) adopted it meanwhile
            return False
        await self._follow(self._adopt_routed(channel, variables))
        return True

    def _adopt_routed(self, channel, variables):
        "A call routed by an earlier run of the bridge, from its variables."
        call = self._new_call(channel,
            {'direction': variables.get('TELECOM_DIRECTION')})
        call.authorized = variables.get('TELECOM_AUTH') in ('allow', SLICED)
        call.account = variables.get('TELECOM_ACCOUNT') or None
        if variables.get('TELECOM_AUTH') == SLICED:
            # Dialled without L(), kept within its slices by an earlier
            # run, whose grant died with it: ask the API at once (a call
            # it cannot extend is cut, as when the grant ends).
            call.granted = 0
        if channel.get('state') == 'Up':
            # answered at an unknown time: billed from now, not lost
            call.answer = (_from_epoch(variables.get('CDR(answer,u)'))
                or now() + self._skew)
            if call.granted is not None:
                call.slicer = self._spawn(self._slices(call))
        logs.info('adopted a routed call', call_id=call.channel_id,
            answered=call.answer is not None)
        return call

    async def _variable(self, channel_id, name):
        try:
            response = await self._ari('GET', '/channels/%s/variable' % quote(
                    channel_id, safe=''), params={'variable': name})
        except AriError as exception:
            if exception.status == 404:
                return None
            raise
        return response.json().get('value')


def _from_epoch(text):
    """CDR(answer,u) ('1711340307.123456', empty or 0 when unanswered), to
    the microsecond: through a float the last digit can move, and with it
    the millisecond the CDR is written to."""
    try:
        value = Decimal(text.strip())
    except (AttributeError, InvalidOperation):
        return None
    if not value.is_finite() or value <= 0:
        return None
    seconds = int(value)
    micro = int((value - seconds) * 1000000)
    return (dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        + dt.timedelta(microseconds=micro))


async def serve(config):
    bridge = Bridge(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, bridge.stop)
    logs.info('bridge starting', ari=config.ari_url, app=config.app,
        api=config.api_url, spool=config.spool_dir,
        journaled=len(bridge.journal.pending))
    await bridge.run()


def main(argv=None):
    config = parse_config(argv)
    logs.setup(config.log_level)
    asyncio.run(serve(config))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
