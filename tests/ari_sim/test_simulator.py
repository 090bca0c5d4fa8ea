"""The simulator against Asterisk's published ARI models (rest-api/api-docs
events.json, channels.json, asterisk.json) and resource_channels.c."""
import asyncio
import base64
import datetime as dt
import json
import re

import aiohttp
import pytest

from tests.ari_sim import AriSimulator

TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$')
CHANNEL_STATES = {'Down', 'Rsrved', 'OffHook', 'Dialing', 'Ring', 'Ringing',
    'Up', 'Busy', 'Dialing Offhook', 'Pre-ring', 'Unknown'}
PLUS_THREE = dt.timezone(dt.timedelta(hours=3))


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario(), 15))


def basic_auth(sim):
    token = base64.b64encode(('%s:%s' % (sim.user, sim.password)).encode())
    return {'Authorization': 'Basic %s' % token.decode()}


def assert_channel(channel):
    "The Channel model of channels.json (Asterisk 20/22)."
    assert isinstance(channel['id'], str) and channel['id']
    assert re.match(r'^PJSIP/.+-[0-9a-f]{8}$', channel['name'])
    assert channel['state'] in CHANNEL_STATES
    assert isinstance(channel['protocol_id'], str)
    for party in ('caller', 'connected'):
        assert set(channel[party]) == {'name', 'number'}
    assert isinstance(channel['accountcode'], str)
    assert set(channel['dialplan']) == {
        'context', 'exten', 'priority', 'app_name', 'app_data'}
    assert isinstance(channel['dialplan']['priority'], int)
    assert TIMESTAMP.match(channel['creationtime'])
    assert isinstance(channel['language'], str)


def assert_event(event, app='telecom'):
    "The Event model of events.json plus the fields Asterisk adds."
    assert isinstance(event['type'], str)
    assert TIMESTAMP.match(event['timestamp']), event['timestamp']
    assert event['application'] == app
    assert event['asterisk_id'] == '52:54:00:12:34:56'
    assert_channel(event['channel'])


class Client:
    "A bare ARI client: aiohttp REST plus the events WebSocket."

    def __init__(self, sim, app='telecom'):
        self.sim = sim
        self.app = app
        self.headers = basic_auth(sim)

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(headers=self.headers)
        self.ws = await self.session.ws_connect(
            '%s/ari/events?app=%s' % (self.sim.url, self.app))
        await self.sim.wait_for_app(self.app)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.session.close()

    async def event(self, timeout=2):
        message = await self.ws.receive(timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return json.loads(message.data)

    async def events_until(self, kind):
        events = []
        while not events or events[-1]['type'] != kind:
            events.append(await self.event())
        return events

    async def request(self, method, path, **params):
        async with self.session.request(method, self.sim.url + '/ari' + path,
                params=params) as response:
            body = await response.read()
            return response.status, json.loads(body) if body else None


def test_inbound_call_events_are_shaped_as_asterisk_sends_them():
    async def scenario():
        async with AriSimulator(tz=PLUS_THREE) as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456',
                args=['direction=outbound'], caller_name='Alice')
            start = await client.event()
            assert start['type'] == 'StasisStart'
            assert start['args'] == ['direction=outbound']
            assert_event(start)
            assert start['timestamp'].endswith('+0300')
            channel = start['channel']
            assert channel['id'] == cid and channel['state'] == 'Ring'
            assert channel['caller'] == {'name': 'Alice', 'number': '100'}
            assert channel['dialplan'] == {
                'context': 'from-customers', 'exten': '4930123456',
                'priority': 2, 'app_name': 'Stasis',
                'app_data': 'telecom,direction=outbound'}

            status, _ = await client.request('POST',
                '/channels/%s/variable' % cid,
                variable='TELECOM_ROUTES', value='PJSIP/1@gw')
            assert status == 204
            varset = await client.event()
            assert varset['type'] == 'ChannelVarset'
            assert (varset['variable'], varset['value']) == (
                'TELECOM_ROUTES', 'PJSIP/1@gw')
            assert_event(varset)
            assert await client.request('GET', '/channels/%s/variable' % cid,
                variable='TELECOM_ROUTES') == (200, {'value': 'PJSIP/1@gw'})

            status, _ = await client.request('POST',
                '/channels/%s/answer' % cid)
            assert status == 204
            change = await client.event()
            assert change['type'] == 'ChannelStateChange'
            assert change['channel']['state'] == 'Up'

            status, _ = await client.request('DELETE', '/channels/%s' % cid,
                reason='busy')
            assert status == 204
            events = await client.events_until('StasisEnd')
            assert [e['type'] for e in events] == [
                'ChannelHangupRequest', 'StasisEnd']
            assert events[0]['cause'] == 17 and events[0]['soft'] is True
            for event in events:
                assert_event(event)
    run(scenario)


def test_subscription_outlives_stasis_and_reports_the_end():
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            await client.event()     # StasisStart
            status, app = await client.request('POST',
                '/applications/telecom/subscription',
                eventSource='channel:%s' % cid)
            assert status == 200 and app['channel_ids'] == [cid]
            await client.request('POST', '/channels/%s/variable' % cid,
                variable='TELECOM_ROUTES', value='PJSIP/1@gw')
            await client.event()     # ChannelVarset
            status, _ = await client.request('POST',
                '/channels/%s/continue' % cid)
            assert status == 204
            end, dialplan = await client.event(), await client.event()
            assert end['type'] == 'StasisEnd'
            assert dialplan['type'] == 'ChannelDialplan'
            assert dialplan['dialplan_app'] == 'Dial'
            assert dialplan['dialplan_app_data'] == 'PJSIP/1@gw,60,'
            # out of Stasis: no control any more
            status, error = await client.request('POST',
                '/channels/%s/continue' % cid)
            assert (status, error) == (409, {
                    'message': 'Channel not in Stasis application'})
            sim.answer(cid)
            assert (await client.event())['type'] == 'ChannelStateChange'
            sim.hangup(cid, cause=34)
            events = await client.events_until('ChannelDestroyed')
            assert [e['type'] for e in events] == [
                'ChannelHangupRequest', 'ChannelDestroyed']
            destroyed = events[-1]
            assert destroyed['cause'] == 34
            assert destroyed['cause_txt'] == 'Circuit/channel congestion'
            assert_event(destroyed)
            assert await client.request('GET', '/channels') == (200, [])
    run(scenario)


def test_without_subscription_events_stop_at_stasis_end():
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            await client.event()
            await client.request('DELETE', '/channels/%s' % cid,
                reason_code='21')
            events = await client.events_until('StasisEnd')
            assert events[0]['cause'] == 21
            with pytest.raises(asyncio.TimeoutError):
                await client.event(timeout=0.2)
            assert sim.channel(cid).hangup_cause == 21
    run(scenario)


@pytest.mark.parametrize('query,status,cause', [
        ({'reason_code': '34'}, 204, 34),
        ({'reason': 'normal'}, 204, 16),
        ({'reason': 'no_answer'}, 204, 19),
        ({'reason': 'failure'}, 204, 38),
        ({}, 204, 16),
        ({'reason': 'busy', 'reason_code': '17'}, 400, None),
        ({'reason': 'bogus'}, 400, None),
        ({'reason_code': 'abc'}, 400, None),
        ])
def test_hangup_reasons_map_as_in_asterisk(query, status, cause):
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            got, _ = await client.request('DELETE', '/channels/%s' % cid,
                **query)
            assert got == status
            if cause is not None:
                await sim.wait_for(lambda: sim.channel(cid).destroyed)
                assert sim.channel(cid).hangup_cause == cause
            recorded = sim.find_requests('DELETE', '/ari/channels/%s' % cid)
            assert recorded[-1].query == query
    run(scenario)


def test_rest_errors_and_lookups():
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            assert await client.request('GET', '/channels/nope') == (
                404, {'message': 'Channel not found'})
            assert (await client.request('DELETE', '/channels/nope'))[0] == 404
            cid = sim.originate_inbound('100', '4930123456')
            status, channel = await client.request('GET', '/channels/%s' % cid)
            assert status == 200
            assert_channel(channel)
            assert (await client.request('GET', '/channels/%s/variable' % cid,
                    variable='UNSET'))[0] == 404
            assert (await client.request('POST', '/channels/%s/variable' % cid
                    ))[0] == 400
            status, info = await client.request('GET', '/asterisk/info')
            assert status == 200
            assert set(info) == {'build', 'system', 'config', 'status'}
            assert TIMESTAMP.match(info['status']['startup_time'])
            assert (await client.request('POST',
                    '/applications/telecom/subscription',
                    eventSource='channel:nope'))[0] == 422
    run(scenario)


def test_authentication_is_required():
    async def scenario():
        async with AriSimulator() as sim:
            async with aiohttp.ClientSession() as session:
                async with session.get(sim.url + '/ari/channels') as response:
                    assert response.status == 401
                    assert 'Basic' in response.headers['WWW-Authenticate']
                url = '%s/ari/channels?api_key=%s:%s' % (
                    sim.url, sim.user, sim.password)
                async with session.get(url) as response:
                    assert response.status == 200
                with pytest.raises(aiohttp.WSServerHandshakeError) as error:
                    await session.ws_connect(
                        sim.url + '/ari/events?app=telecom&api_key=x:y')
                assert error.value.status == 401
    run(scenario)


def test_channelvars_and_cdr_function():
    async def scenario():
        async with AriSimulator(channelvars=['TELECOM_ACCOUNT']) as sim, \
                Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            start = await client.event()
            assert start['channel']['channelvars'] == {'TELECOM_ACCOUNT': ''}
            assert await client.request('GET', '/channels/%s/variable' % cid,
                variable='CDR(answer,u)') == (200, {'value': ''})
            sim.answer(cid)
            _, answer = await client.request('GET',
                '/channels/%s/variable' % cid, variable='CDR(answer,u)')
            assert abs(float(answer['value'])
                - sim.channel(cid).answered_at.timestamp()) < 1e-3
    run(scenario)


def test_dropped_websocket_loses_events_keeps_subscriptions():
    async def scenario():
        async with AriSimulator() as sim:
            async with Client(sim) as client:
                cid = sim.originate_inbound('100', '4930123456')
                await client.event()
                sim.drop_websockets(refuse=True)
                message = await client.ws.receive(2)
                assert message.type in (aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
            assert not sim.app_connected('telecom')
            sim.answer(cid)     # published to nobody
            async with aiohttp.ClientSession(
                    headers=basic_auth(sim)) as session:
                with pytest.raises(aiohttp.WSServerHandshakeError) as error:
                    await session.ws_connect(
                        sim.url + '/ari/events?app=telecom')
                assert error.value.status == 503
            sim.allow_websockets()
            async with Client(sim) as client:
                sim.hangup(cid)
                events = await client.events_until('StasisEnd')
                assert events[0]['type'] == 'ChannelHangupRequest'
                assert events[0]['channel']['state'] == 'Up'
    run(scenario)


def test_originate_needs_a_registered_application():
    async def scenario():
        async with AriSimulator() as sim:
            with pytest.raises(RuntimeError):
                sim.originate_inbound('100', '4930123456')
    run(scenario)


def test_snoop_whispers_to_a_channel_out_of_stasis():
    """A channel in the dialplan (Dial) takes no variable and plays
    nothing (409, find_control); a Snoop/ channel on it enters the
    application, and what it plays with whisper=out its caller hears.
    The snoop channel ends with the channel it spies on."""
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            await client.event()
            await client.request('POST', '/channels/%s/variable' % cid,
                variable='TELECOM_ROUTES', value='PJSIP/1@gw')
            await client.request('POST', '/channels/%s/continue' % cid)
            await client.events_until('StasisEnd')
            assert (await client.request('POST', '/channels/%s/variable' % cid,
                    variable='X', value='1'))[0] == 409
            assert (await client.request('POST', '/channels/%s/play' % cid,
                    media='sound:beep'))[0] == 409
            status, snoop = await client.request('POST',
                '/channels/%s/snoop' % cid, app='telecom', spy='none',
                whisper='out')
            assert status == 200
            assert snoop['name'].startswith('Snoop/%s-' % cid)
            start = await client.event()
            assert (start['type'], start['channel']['id']) == (
                'StasisStart', snoop['id'])
            status, playback = await client.request('POST',
                '/channels/%s/play' % snoop['id'], media='sound:beep')
            assert status == 201
            assert playback['target_uri'] == 'channel:%s' % snoop['id']
            events = await client.events_until('PlaybackFinished')
            assert [e['type'] for e in events] == [
                'PlaybackStarted', 'PlaybackFinished']
            assert sim.channel(cid).whispered == ['sound:beep']
            sim.hangup(cid)
            assert sim.channel(snoop['id']).destroyed
    run(scenario)


def test_vanished_channel_leaves_the_list_without_events():
    async def scenario():
        async with AriSimulator() as sim, Client(sim) as client:
            cid = sim.originate_inbound('100', '4930123456')
            await client.event()
            sim.vanish(cid)
            assert await client.request('GET', '/channels') == (200, [])
            with pytest.raises(asyncio.TimeoutError):
                await client.event(timeout=0.3)
    run(scenario)
