"""telecom-ari-bridge against the ARI simulator and a fake call-control API,
everything on 127.0.0.1 and every test bounded in time."""
import asyncio
import contextlib
import dataclasses
import json
import os
import sys

import pytest

try:
    from tests.ari_sim import AriSimulator
except ImportError:  # run from elsewhere than the repository root
    sys.path.insert(0, os.path.abspath(os.path.join(
                os.path.dirname(__file__), '..', '..', '..')))
    from tests.ari_sim import AriSimulator

from trytond.modules.telecom_switch.bridge.ari import Bridge
from trytond.modules.telecom_switch.bridge.config import Config, parse_config
from trytond.modules.telecom_switch.bridge.journal import Journal

from .fake_api import FakeCallControlApi

TEST_TIMEOUT = 20
CDRS = '/v1/cdrs'


def run(scenario):
    "Run an async scenario with a hard time limit."
    asyncio.run(asyncio.wait_for(scenario(), TEST_TIMEOUT))


def bridge_config(sim, api, spool):
    return Config(
        api_url=api.url, api_key='test-key',
        ari_url=sim.url, ari_user=sim.user, ari_password=sim.password,
        spool_dir=str(spool),
        authorize_timeout=0.5, api_timeout=1.0, ari_timeout=2.0,
        reconnect_initial=0.05, reconnect_max=0.2,
        retry_initial=0.05, retry_max=0.2,
        reconcile_grace=0.3, shutdown_grace=0.5)


@contextlib.asynccontextmanager
async def asterisk_and_api(tmp_path, channelvars=()):
    "An ARI simulator, the fake API up, and a bridge configuration."
    async with AriSimulator(tz=_PLUS_THREE, channelvars=channelvars) as sim:
        api = FakeCallControlApi()
        await api.start()
        try:
            yield sim, api, bridge_config(sim, api, tmp_path)
        finally:
            await api.stop()


@contextlib.asynccontextmanager
async def switch(tmp_path, channelvars=()):
    "An ARI simulator with the fake API up and a connected bridge."
    async with asterisk_and_api(tmp_path, channelvars) as (sim, api, config):
        async with running(Bridge(config)) as bridge:
            await sim.wait_for_app('telecom')
            yield sim, api, bridge


@contextlib.asynccontextmanager
async def running(bridge):
    task = asyncio.ensure_future(bridge.run())
    try:
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 5)


async def eventually(predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError('condition not met within %ss' % timeout)
        await asyncio.sleep(0.01)


async def routed(sim, channel_id):
    await sim.wait_for(lambda: sim.channel(channel_id).app_name == 'Dial')


async def answered_call(sim, api):
    "A call allowed, routed and answered, its answer posted."
    cid = sim.originate_inbound('100', '4930123456')
    await routed(sim, cid)
    sim.answer(cid)
    await eventually(lambda: api.posts_for_call(cid, 'answer'))
    return cid


def _tz(hours):
    import datetime as dt
    return dt.timezone(dt.timedelta(hours=hours))


_PLUS_THREE = _tz(3)


def test_allowed_call_is_routed_and_its_cdr_posted_once(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            cid = sim.originate_inbound('+49 30 555', '4930123456',
                args=['direction=outbound', 'user=alice', 'ip=192.0.2.7'])
            await routed(sim, cid)
            channel = sim.channel(cid)
            assert channel.variables['TELECOM_ROUTES'] == (
                'PJSIP/4930123456@carrier-a&PJSIP/4930123456@carrier-b')
            assert channel.variables['TELECOM_MAX_DURATION'] == '600'
            assert channel.variables['TELECOM_ACCOUNT'] == 'ACC-1'
            assert channel.variables['TELECOM_PRICE'] == '0.0120'
            assert channel.app_data == (
                'PJSIP/4930123456@carrier-a,60,L(600000:60000:30000)')
            authorize, = api.posts('/v1/authorize')
            assert authorize == {
                'call_id': cid, 'leg': 'a', 'direction': 'outbound',
                'caller': '4930555', 'callee': '4930123456',
                'sip_username': 'alice', 'source_ip': '192.0.2.7',
                'sip_domain': None, 'service': 'voice',
                'interim_updates': True}
            # followed beyond Stasis, variables set, then continued
            paths = [r.path for r in sim.requests if r.method == 'POST']
            assert paths[0] == '/ari/applications/telecom/subscription'
            assert paths[-1] == '/ari/channels/%s/continue' % cid

            sim.answer(cid)
            await eventually(lambda: api.posts_for_call(cid, 'answer'))
            sim.advance(65)
            sim.hangup(cid, cause=16)
            await eventually(lambda: api.posts_for_call(cid, 'end'))
            await asyncio.sleep(0.2)

            assert api.cdr_posts_for(cid) == 1
            cdr = api.cdrs[(cid, 'a')]
            assert cdr['billable_seconds'] == 65
            assert cdr['disposition'] == 'ANSWERED'
            assert cdr['hangup_cause'] == 16
            assert cdr['account'] == 'ACC-1'
            assert cdr['start'] == channel.creationtime.isoformat(
                timespec='milliseconds')
            assert cdr['start'].endswith('+03:00')
            end, = api.posts_for_call(cid, 'end')
            assert end['cause'] == 16 and end['ended_at'] == cdr['end']
            assert not bridge.journal.pending
    run(scenario)


def test_denied_call_is_hung_up_with_the_api_cause(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            api.deny('insufficient_credit', q850=34)
            cid = sim.originate_inbound('100', '4930123456')
            await sim.wait_for(lambda: sim.channel(cid).destroyed)
            delete, = sim.find_requests('DELETE', '/ari/channels/%s' % cid)
            assert delete.query == {'reason_code': '34'}
            assert sim.channel(cid).hangup_cause == 34
            assert not sim.find_requests(
                'POST', '/ari/channels/%s/continue' % cid)
            await eventually(lambda: (cid, 'a') in api.cdrs)
            assert api.cdrs[(cid, 'a')]['disposition'] == 'FAILED'
            # no slot was taken, so none is released
            assert not api.posts_for_call(cid, 'end')
    run(scenario)


@pytest.mark.parametrize('outage', ['down', 'slow', '503'])
def test_authorize_unreachable_fails_closed(tmp_path, outage):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            if outage == 'down':
                await api.stop()
            elif outage == 'slow':
                api.delay = 2.0
            else:
                api.failing = True
            cid = sim.originate_inbound('100', '4930123456')
            await sim.wait_for(lambda: sim.channel(cid).destroyed)
            delete, = sim.find_requests('DELETE', '/ari/channels/%s' % cid)
            assert delete.query == {'reason_code': '38'}
            assert sim.channel(cid).hangup_cause == 38
    run(scenario)


def test_emergency_call_is_routed_when_the_api_is_down(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            await api.stop()
            cid = sim.originate_inbound('100', '112')
            await routed(sim, cid)
            channel = sim.channel(cid)
            assert channel.variables['TELECOM_ROUTES'] == (
                'PJSIP/112@emergency')
            assert channel.variables['TELECOM_MAX_DURATION'] == ''
            assert channel.app_data == 'PJSIP/112@emergency,60,'
            assert not sim.find_requests('DELETE', '/ari/channels/%s' % cid)
    run(scenario)


@pytest.mark.parametrize('outage', ['down', '503'])
def test_cdrs_journaled_during_outage_replayed_once_in_order(
        tmp_path, outage):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            calls = [sim.originate_inbound('100', '4930123456')
                for _ in range(3)]
            for cid in calls:
                await routed(sim, cid)
                sim.answer(cid)
            await eventually(lambda: all(
                    api.posts_for_call(c, 'answer') for c in calls))
            if outage == 'down':
                await api.stop()
            else:
                api.failing = True
            for cid in reversed(calls):
                sim.advance(10)
                sim.hangup(cid)
            # each call journals its CDR and its end
            await eventually(lambda: len(bridge.journal.pending) == 6)
            with open(bridge.journal.path) as journal:
                lines = [json.loads(line) for line in journal]
            assert [e['body']['call_id'] for e in lines
                if e.get('path') == CDRS] == list(reversed(calls))
            assert not api.cdrs

            if outage == 'down':
                await api.start()
            else:
                api.failing = False
            await eventually(lambda: len(api.cdrs) == 3)
            await eventually(lambda: not bridge.journal.pending)
            await asyncio.sleep(0.2)
            assert api.cdr_order == list(reversed(calls))
            assert api.duplicates == 0
            for cid in calls:
                assert len(api.posts_for_call(cid, 'end')) == 1
            assert os.path.getsize(bridge.journal.path) == 0
    run(scenario)


def test_restart_replays_the_journal(tmp_path):
    async def scenario():
        async with asterisk_and_api(tmp_path) as (sim, api, config):
            async with running(Bridge(config)) as bridge:
                await sim.wait_for_app('telecom')
                cid = await answered_call(sim, api)
                await api.stop()
                sim.advance(30)
                sim.hangup(cid)
                await eventually(lambda: len(bridge.journal.pending) == 2)
            # the bridge is stopped with the CDR and the end journaled
            assert len(Journal(str(tmp_path)).pending) == 2
            await api.start()
            async with running(Bridge(config)) as bridge:
                await eventually(lambda: (cid, 'a') in api.cdrs)
                await eventually(lambda: not bridge.journal.pending)
            assert api.cdr_posts_for(cid) == 1
            assert api.cdrs[(cid, 'a')]['billable_seconds'] == 30
            assert len(api.posts_for_call(cid, 'end')) == 1
    run(scenario)


def test_socket_drop_call_ends_while_deaf(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            cid = await answered_call(sim, api)
            sim.drop_websockets(refuse=True)
            await sim.wait_for(lambda: not sim.app_connected('telecom'))
            sim.hangup(cid)     # its ChannelDestroyed is lost
            await asyncio.sleep(0.2)
            assert (cid, 'a') not in api.cdrs
            sim.allow_websockets()
            await sim.wait_for(lambda: len(sim.websocket_connects) == 2)
            await eventually(lambda: (cid, 'a') in api.cdrs)
            await asyncio.sleep(0.5)
            assert api.cdr_posts_for(cid) == 1
            assert api.cdrs[(cid, 'a')]['disposition'] == 'ANSWERED'
            assert len(api.posts_for_call(cid, 'end')) == 1
            assert sim.find_requests('GET', '/ari/channels')
    run(scenario)


def test_socket_drop_call_survives_and_ends_later(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            # the answer seen before the drop (dropped before its event
            # reached the bridge, the call would be unanswered to it: a
            # race the test lost under load)
            cid = await answered_call(sim, api)
            sim.drop_websockets()
            await sim.wait_for(lambda: len(sim.websocket_connects) == 2)
            await eventually(lambda: len(
                    sim.find_requests('GET', '/ari/channels')) == 2)
            sim.advance(42)
            sim.hangup(cid, cause=16)
            await eventually(lambda: (cid, 'a') in api.cdrs)
            await asyncio.sleep(0.5)
            assert api.cdr_posts_for(cid) == 1
            assert api.cdrs[(cid, 'a')]['billable_seconds'] == 42
    run(scenario)


async def _answer_lost_in_a_drop(sim, api):
    """A routed call answered at the very moment the events socket drops:
    its ChannelStateChange to Up is lost; the bridge reconnects."""
    cid = sim.originate_inbound('100', '4930123456')
    await routed(sim, cid)
    sim.answer(cid)
    # same loop step: the Up event is still queued, the socket dies first
    sim.drop_websockets()
    await sim.wait_for(lambda: len(sim.websocket_connects) == 2)
    return cid


async def _answer_lost_then_asked(sim, api, delay):
    """The same, and Asterisk has read the call's CDR(answer,u) for the
    bridge reconciling: its answer is on the way, ``delay`` seconds."""
    sim.variable_delay = delay
    cid = await _answer_lost_in_a_drop(sim, api)
    path = '/ari/channels/%s/variable' % cid
    await sim.wait_for(lambda: ('GET', path) in sim.received)
    return cid


async def _hangup_and_check_billed_from_answer(sim, api, cid):
    """Hang the call up 42 s after its answer: one CDR carrying
    Asterisk's answer time (to the millisecond) and 42 billable seconds,
    one answer and one end posted."""
    import datetime as dt
    sim.advance(42)
    sim.hangup(cid, cause=16)
    await eventually(lambda: (cid, 'a') in api.cdrs)
    await asyncio.sleep(0.3)
    answered_at = sim.channel(cid).answered_at
    answered_at = answered_at.replace(
        microsecond=answered_at.microsecond // 1000 * 1000)
    cdr = api.cdrs[(cid, 'a')]
    assert cdr['answer'] is not None, 'billed as unanswered'
    assert dt.datetime.fromisoformat(cdr['answer']) == answered_at
    # hung up 42 s (plus this test's milliseconds) after the answer
    assert cdr['billable_seconds'] == 42
    assert cdr['disposition'] == 'ANSWERED'
    assert api.cdr_posts_for(cid) == 1
    answer, = api.posts_for_call(cid, 'answer')
    assert dt.datetime.fromisoformat(answer['answered_at']) == answered_at
    assert len(api.posts_for_call(cid, 'end')) == 1


def test_answer_lost_in_a_socket_drop_is_learnt_and_billed(tmp_path):
    """Up while the socket drops, hangup after the reconnection: the CDR
    carries Asterisk's own answer time (CDR(answer,u), read when the
    bridge reconciles) and every second from it."""
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            cid = await _answer_lost_in_a_drop(sim, api)
            await eventually(lambda: api.posts_for_call(cid, 'answer'))
            await _hangup_and_check_billed_from_answer(sim, api, cid)
    run(scenario)


def test_hangup_while_the_answer_time_is_asked_keeps_it(tmp_path):
    """The same, but the call ends while the bridge still waits for
    Asterisk's answer to ``GET .../variable?variable=CDR(answer,u)`` (a
    loaded machine): the ChannelDestroyed that overtakes it must not close
    the CDR as unanswered (0 billable seconds, the call under-billed)."""
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            cid = await _answer_lost_then_asked(sim, api, 0.5)
            await _hangup_and_check_billed_from_answer(sim, api, cid)
    run(scenario)


def test_bridge_stopped_while_the_answer_time_is_asked_keeps_the_cdr(
        tmp_path):
    """The same race, and the bridge stops before Asterisk answers the
    read: the channel is gone (no later run would see it), so the CDR is
    posted on the way out, billed from when the channel list showed the
    call Up (milliseconds after the answer: 41 or 42 of 42 s)."""
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            # longer than the bridge waits before it is stopped
            cid = await _answer_lost_then_asked(sim, api, 3)
            answered_at = sim.channel(cid).answered_at
            sim.advance(42)
            sim.hangup(cid, cause=16)
            await asyncio.sleep(0.2)
            assert (cid, 'a') not in api.cdrs   # still waiting for the read
        # stopped (switch() stops the bridge): the CDR went out on the way
        cdr = api.cdrs[(cid, 'a')]
        import datetime as dt
        answer = dt.datetime.fromisoformat(cdr['answer'])
        assert dt.timedelta(0) <= answer - answered_at < dt.timedelta(
            seconds=1)
        assert cdr['billable_seconds'] in (41, 42)
        assert cdr['disposition'] == 'ANSWERED'
        assert len(api.posts_for_call(cid, 'end')) == 1
    run(scenario)


@pytest.mark.parametrize('channelvars', [(), (
            'TELECOM_AUTH', 'TELECOM_DIRECTION', 'TELECOM_ACCOUNT')])
def test_new_bridge_adopts_a_routed_call(tmp_path, channelvars):
    async def scenario():
        async with asterisk_and_api(tmp_path, channelvars) as (
                sim, api, config):
            async with running(Bridge(config)):
                await sim.wait_for_app('telecom')
                cid = await answered_call(sim, api)
            async with running(Bridge(config)) as bridge:
                await eventually(lambda: cid in bridge.calls)
                sim.advance(20)
                sim.hangup(cid)
                await eventually(lambda: (cid, 'a') in api.cdrs)
            cdr = api.cdrs[(cid, 'a')]
            assert cdr['account'] == 'ACC-1'
            assert cdr['billable_seconds'] == 20
            assert len(api.posts_for_call(cid, 'end')) == 1
    run(scenario)


def test_new_bridge_decides_a_call_left_waiting_in_stasis(tmp_path):
    async def scenario():
        async with asterisk_and_api(tmp_path) as (sim, api, config):
            api.delay = 3.0     # the first bridge stops mid-authorize
            config.authorize_timeout = 5.0
            async with running(Bridge(config)):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('100', '4930123456')
                await eventually(lambda: api.posts('/v1/authorize'))
            api.delay = 0
            async with running(Bridge(config)):
                await routed(sim, cid)
    run(scenario)


def test_malformed_events_are_ignored(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            for garbage in ['{not json', '[1, 2]', '"text"',
                    '{"type": "StasisStart"}',
                    '{"type": "StasisStart", "channel": {"id": 5}}',
                    '{"type": "ChannelDestroyed", "channel": []}',
                    '{"type": "ChannelStateChange", '
                    '"channel": {"id": "x", "state": "Up"}}']:
                sim.send_raw('telecom', garbage)
            cid = sim.originate_inbound('100', '4930123456')
            await routed(sim, cid)
            sim.hangup(cid)
            await eventually(lambda: (cid, 'a') in api.cdrs)
            assert sim.websocket_connects.__len__() == 1
    run(scenario)


def test_cdr_refused_as_bad_goes_to_rejected_file(tmp_path):
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            api.reject_cdrs = True
            cid = sim.originate_inbound('100', '4930123456')
            await routed(sim, cid)
            sim.hangup(cid, cause=19)
            await eventually(lambda: not bridge.journal.pending)
            await asyncio.sleep(0.2)
            assert api.cdr_posts_for(cid) == 1     # not retried
            with open(bridge.journal.rejected_path) as rejected:
                entry, = [json.loads(line) for line in rejected]
            assert entry['body']['call_id'] == cid
            assert entry['body']['disposition'] == 'NO ANSWER'
            assert '422' in entry['reason']
    run(scenario)


def test_journal_survives_a_torn_line(tmp_path):
    journal = Journal(str(tmp_path))
    first = journal.append(CDRS, {'call_id': '1'})
    journal.append(CDRS, {'call_id': '2'})
    journal.ack([first])
    journal.close()
    with open(journal.path, 'a') as file:
        file.write('{"seq": 3, "path": "/v1/cd')   # crash mid-write
    reloaded = Journal(str(tmp_path))
    assert [e['body']['call_id'] for e in reloaded.pending.values()] == ['2']
    entry = reloaded.append(CDRS, {'call_id': '3'})
    assert entry['seq'] == 3
    reloaded.close()
    assert [e['body']['call_id'] for e in Journal(
                str(tmp_path)).pending.values()] == ['2', '3']


def sliced(api, seconds):
    "The fake API grants the first ``seconds`` of a call, not final"
    api.authorize_answer = {
        **api.authorize_answer, 'max_duration': seconds, 'final': False}


def test_sliced_call_extended_then_warned_and_cut(tmp_path):
    """A slice (final false): Dial gets no L(); the bridge asks for more
    before it ends, and on the final grant whispers the warning and hangs
    up at its end (16); the CDR bills no more than was granted."""
    async def scenario():
        async with asterisk_and_api(tmp_path) as (sim, api, config):
            config = dataclasses.replace(
                config, update_before=0.5, warning_before=1.0)
            sliced(api, 2)
            api.update_answers = [{'max_duration': 3, 'final': False},
                {'max_duration': 4, 'final': True}]
            async with running(Bridge(config)):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('4930555', '4930123456',
                    args=['user=alice'])
                await routed(sim, cid)
                assert sim.channel(cid).variables[
                    'TELECOM_MAX_DURATION'] == ''
                assert sim.channel(cid).variables['TELECOM_AUTH'] == 'sliced'
                assert sim.channel(cid).app_data == (
                    'PJSIP/4930123456@carrier-a,60,')
                sim.answer(cid)
                await sim.wait_for(lambda: sim.channel(cid).destroyed, 10)
                await eventually(lambda: (cid, 'a') in api.cdrs)
            assert sim.channel(cid).whispered == ['sound:beep']
            assert len(api.posts_for_call(cid, 'update')) == 2
            hangup, = [r.query for r in sim.find_requests('DELETE')
                if r.path == '/ari/channels/%s' % cid]
            assert hangup == {'reason_code': '16'}
            assert api.cdrs[(cid, 'a')]['billable_seconds'] <= 4
    run(scenario)


@pytest.mark.parametrize('channelvars', [(), (
            'TELECOM_AUTH', 'TELECOM_DIRECTION', 'TELECOM_ACCOUNT')])
def test_new_bridge_keeps_an_adopted_slice_within_the_money(
        tmp_path, channelvars):
    """A sliced call adopted by the next run (its grant died with the
    first): the bridge asks the API at once and keeps the call within
    the answer — without it the call, dialled without L(), talked on
    past the money."""
    async def scenario():
        async with asterisk_and_api(tmp_path, channelvars) as (
                sim, api, config):
            config = dataclasses.replace(
                config, update_before=0.5, warning_before=1.0)
            # the first run stops long before it would ask for more
            sliced(api, 5)
            async with running(Bridge(config)):
                await sim.wait_for_app('telecom')
                cid = await answered_call(sim, api)
            api.update_answers = [{'max_duration': 3, 'final': True}]
            async with running(Bridge(config)):
                await sim.wait_for(lambda: sim.channel(cid).destroyed, 10)
                await eventually(lambda: (cid, 'a') in api.cdrs)
            assert len(api.posts_for_call(cid, 'update')) == 1
            assert sim.channel(cid).whispered == ['sound:beep']
            assert sim.channel(cid).hangup_cause == 16
            assert api.cdrs[(cid, 'a')]['billable_seconds'] <= 3
    run(scenario)


def test_sliced_call_cut_when_the_api_cannot_extend_it(tmp_path):
    """The API cannot answer the update (503): the bridge asks again until
    the granted time ends, then hangs up (fail closed, as authorize)."""
    async def scenario():
        async with asterisk_and_api(tmp_path) as (sim, api, config):
            config = dataclasses.replace(config, update_before=1.0)
            sliced(api, 2)
            async with running(Bridge(config)):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('4930555', '4930123456',
                    args=['user=alice'])
                await routed(sim, cid)
                sim.answer(cid)
                await sim.wait_for(lambda: sim.channel(cid).destroyed, 10)
                await eventually(lambda: (cid, 'a') in api.cdrs)
            assert len(api.posts_for_call(cid, 'update')) >= 2
            assert api.cdrs[(cid, 'a')]['billable_seconds'] <= 2
            assert sim.channel(cid).hangup_cause == 16
    run(scenario)


def test_journal_torn_tail_does_not_swallow_the_next_post(tmp_path):
    """A crash mid-write leaves a line without its end; with nothing
    acknowledged yet the journal was not rewritten at load, so the next
    post was appended to the torn line and lost at the following load."""
    journal = Journal(str(tmp_path))
    journal.append(CDRS, {'call_id': '1'})
    journal.close()
    with open(journal.path, 'a') as file:
        file.write('{"seq": 2, "path": "/v1/cd')   # killed mid-write
    reloaded = Journal(str(tmp_path))
    reloaded.append(CDRS, {'call_id': '3'})
    reloaded.close()
    assert [e['body']['call_id'] for e in Journal(
                str(tmp_path)).pending.values()] == ['1', '3']


def test_configuration_from_flags_and_environment():
    config = parse_config(['--api-url', 'http://api:8000',
            '--authorize-timeout', '1.5'], environ={
            'TELECOM_API_KEY': 'k', 'TELECOM_ARI_PASSWORD': 'p',
            'TELECOM_EMERGENCY_NUMBERS': '112, +911,999',
            'TELECOM_AUTHORIZE_TIMEOUT': '9'})
    assert config.api_url == 'http://api:8000'
    assert config.api_key == 'k'
    assert config.authorize_timeout == 1.5
    assert config.emergency_numbers == {'112', '911', '999'}
    with pytest.raises(SystemExit):
        parse_config([], environ={})


def test_cdr_carries_service_and_post_dial_delay(tmp_path):
    """A fax (Stasis argument service=fax) is authorized and posted as a
    fax; the CDR carries the post-dial delay from the dial to the first
    ringing, for the carriers' quality statistics"""
    async def scenario():
        async with switch(tmp_path) as (sim, api, bridge):
            cid = sim.originate_inbound('100', '4930123456',
                args=['direction=outbound', 'service=fax'])
            await routed(sim, cid)
            sim.advance(2)
            sim.ring(cid)
            sim.advance(1)
            sim.answer(cid)
            await eventually(lambda: api.posts_for_call(cid, 'answer'))
            sim.advance(30)
            sim.hangup(cid, cause=16)
            await eventually(lambda: api.cdr_posts_for(cid) == 1)
            authorize, = api.posts('/v1/authorize')
            assert authorize['service'] == 'fax'
            cdr = api.cdrs[(cid, 'a')]
            assert cdr['service'] == 'fax'
            # 2 s of Asterisk's clock, plus the test's own few ms
            assert 2000 <= cdr['pdd_ms'] < 2500, cdr
    run(scenario)
