"""telecom-ari-bridge against the REAL call-control API, on PostgreSQL.

The ARI simulator (tests/ari_sim) plays Asterisk, the bridge is the real
one (``Bridge`` run in this process, as ``telecom-ari-bridge`` runs it),
and ``telecom-callcontrol`` serves a database of ``callcontrol_fixture.py``.
The customer is the fixture's postpaid account (SIP user ``pp-user``):
UK numbers cost 0.60 EUR a minute in 1-second steps.

Checks: a call authorized, answered and ended is stored and rated; the API
killed (SIGKILL) in the middle of a burst of calls and restarted: once the
bridge has replayed its journal every call the API allowed has exactly one
CDR, and no live call is left; prepaid calls granted in slices (the API
runs with ``--slice 4``) share the money and are cut when it ends; calls
Asterisk no longer has are released; an API outage and a bridge killed
with SIGKILL lose and double nothing.
"""
import asyncio
import dataclasses
import os
import sys
import time
import uuid
from decimal import Decimal

import pytest

from tests.ari_sim import AriSimulator
from trytond.modules.telecom_switch.bridge.ari import Bridge
from trytond.modules.telecom_switch.tests.test_bridge import (
    bridge_config, eventually, running)

from .conftest import ROOT
from .test_callcontrol import PG_URI, Platform, pg_available
from .test_callcontrol_ledger import make_accounts

CALLEE = '442079460000'
USER = ['user=pp-user']


@pytest.fixture(scope='module')
def platform(tmp_path_factory):
    if not pg_available():
        if os.environ.get('CI') == 'true':
            pytest.fail(f"PostgreSQL must answer at {PG_URI} under CI")
        pytest.skip(f"PostgreSQL does not answer at {PG_URI}")
    # Slices of 4 s: a prepaid call's money shared with its other calls
    # in seconds of test (only prepaid and credit-limited accounts are
    # sliced; the other tests use a postpaid account without a limit).
    platform = Platform('postgresql', tmp_path_factory.mktemp('bridge-cc'),
        api_args=['--slice', '4'])
    try:
        yield platform
    finally:
        platform.stop()


def config(sim, platform, spool):
    return dataclasses.replace(
        bridge_config(sim, platform, spool),
        api_key=platform.keys['owner_key'],
        authorize_timeout=2.0, api_timeout=2.0,
        retry_initial=0.1, retry_max=0.5)


def cdr_counts(platform):
    "call id → number of CDRs stored for it"
    return dict(platform.sql(
        'SELECT call_id, COUNT(*) FROM telecom_cdr '
        "WHERE switch = 'owner-proxy' GROUP BY call_id"))


async def settle(sim, channel_id):
    "Wait until the bridge routed the call (True) or hung it up (False)"
    await sim.wait_for(lambda: sim.channel(channel_id).app_name == 'Dial'
        or sim.channel(channel_id).destroyed, timeout=10)
    return not sim.channel(channel_id).destroyed


def test_call_answered_ended_stored_and_rated(platform, tmp_path):
    async def scenario():
        async with AriSimulator() as sim:
            bridge = Bridge(config(sim, platform, tmp_path))
            async with running(bridge):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('442071230000', CALLEE, USER)
                assert await settle(sim, cid)
                sim.answer(cid)
                sim.advance(65)
                sim.hangup(cid, cause=16)
                await eventually(lambda: cid in bridge.finished
                    and not bridge.journal.pending, 15)
        return cid
    cid = asyncio.run(asyncio.wait_for(scenario(), 60))

    # The API stored the CDR; its rating worker rates it moments later.
    platform.wait_rated(cid)
    state = platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
cdr, = Cdr.search([('call_id', '=', {cid!r})])
result = [cdr.state, cdr.duration, cdr.callee, cdr.account.code,
    cdr.disposition, [str(c.amount) for c in cdr.charges]]
""")
    # 65 s at 0.60 a minute in 1-second steps = 0.65
    *state, amounts = state
    assert state == ['rated', 65, CALLEE, platform.keys['postpaid'],
        'ANSWERED']
    assert [Decimal(a) for a in amounts] == [Decimal('0.65')]
    # The CDR came before the end (the bridge's order): rating released
    # the call, whichever of the end and the rating came first.
    assert platform.sql('SELECT call_id FROM telecom_live_call') == []


def test_inbound_did_rings_its_line(platform, tmp_path):
    """Issue 15, defect 7: an inbound call to a DID is dialled to the
    phone of the number's line (it was hung up with cause 3), answered
    there, ended and stored as the account's inbound call"""
    async def scenario():
        async with AriSimulator() as sim:
            bridge = Bridge(config(sim, platform, tmp_path))
            async with running(bridge):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('447700900123', '442071230002',
                    ['direction=inbound', 'did=442071230002'],
                    context='from-carriers', endpoint='carrier')
                assert await settle(sim, cid)
                channel = sim.channel(cid)
                assert channel.app_data.startswith('PJSIP/desk-phone,60')
                sim.answer(cid)
                sim.advance(30)
                sim.hangup(cid, cause=16)
                await eventually(lambda: cid in bridge.finished
                    and not bridge.journal.pending, 15)
        return cid
    cid = asyncio.run(asyncio.wait_for(scenario(), 60))
    # The bridge posted the CDR before it finished the call.
    state = platform.tryton(f"""
Cdr = pool.get('telecom.cdr')
result = [[c.direction, c.duration, c.callee, c.account.code, c.disposition]
    for c in Cdr.search([('call_id', '=', {cid!r})])]
""")
    assert state == [['inbound', 30, '442071230002', platform.keys['desk'],
        'ANSWERED']]


def test_api_killed_during_a_burst_every_cdr_stored_once(platform, tmp_path):
    calls = 60
    allowed, refused = [], []
    earlier = set(cdr_counts(platform))

    async def one(sim):
        cid = sim.originate_inbound('442071230000', CALLEE, USER)
        if await settle(sim, cid):
            allowed.append(cid)
            sim.answer(cid)
            await asyncio.sleep(0.05)
            sim.hangup(cid, cause=16)
        else:
            refused.append(cid)

    async def scenario():
        async with AriSimulator() as sim:
            bridge = Bridge(config(sim, platform, tmp_path))
            async with running(bridge):
                await sim.wait_for_app('telecom')
                tasks = []
                for number in range(calls):
                    tasks.append(asyncio.ensure_future(one(sim)))
                    await asyncio.sleep(0.02)
                    if number == calls // 3:
                        # A crash: no goodbye, requests cut mid-flight.
                        await asyncio.to_thread(platform.stop_api, True)
                await asyncio.gather(*tasks)
                await eventually(lambda: all(
                        c in bridge.finished for c in allowed + refused), 15)
                # While the API is down the bridge journals every post.
                assert bridge.journal.pending
                await asyncio.to_thread(platform.start_api)
                await eventually(lambda: not bridge.journal.pending, 60)
                return bridge.journal.rejected_path
    started = time.monotonic()
    rejected_path = asyncio.run(asyncio.wait_for(scenario(), 150))

    assert allowed and refused, (allowed, refused)
    counts = {c: n for c, n in cdr_counts(platform).items()
        if c not in earlier}
    # Exactly once: every allowed call has one CDR, none has two.
    assert {c: counts.get(c) for c in allowed} == {c: 1 for c in allowed}
    assert max(counts.values()) == 1
    # A call refused because the API was down holds nothing; its CDR is
    # stored only if the API had admitted it before dying (then the
    # reservation row carries its account), else ignored (never
    # authorized nor answered: nothing to bill) — never an error.
    assert set(counts) <= set(allowed) | set(refused)
    assert not os.path.exists(rejected_path)
    # The rating worker rates them all (a call the API admitted but the
    # bridge took for refused when the API died included: its CDR, 0 s,
    # is stored with the live call's account) and so releases every live
    # call.
    deadline = time.monotonic() + 30
    while True:
        rated = platform.sql(
            "SELECT COUNT(*) FROM telecom_cdr WHERE switch = 'owner-proxy' "
            "AND state = 'rated' AND call_id = ANY(%s)", list(counts))
        if rated == [(len(counts),)] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert rated == [(len(counts),)]
    # Every call the API admitted is billed exactly once: an admitted
    # call whose CDR was lost or ignored would leave its live call here.
    # (The live call once seen left was the DID test's: its CDR is stored
    # but the account has no inbound plan to rate it, so its ended call
    # stays, holding nothing, until it expires — not a lost CDR.)
    left = platform.sql('SELECT call_id, ended_at, reserved '
        'FROM telecom_live_call WHERE call_id = ANY(%s)', allowed + refused)
    assert left == [], left
    assert time.monotonic() - started < 150
    # The rated postpaid calls cost what their seconds cost.
    amounts = platform.sql(
        'SELECT c.duration, l.amount FROM telecom_cdr c '
        'JOIN telecom_cdr_charge l ON l.cdr = c.id '
        'WHERE l.current AND c.call_id = ANY(%s)', allowed)
    assert all(Decimal(amount) == Decimal('0.01') * duration
        for duration, amount in amounts), amounts


def test_prepaid_calls_share_the_money_in_slices(platform, tmp_path):
    """Issue 15, defect 9 on Asterisk: the bridge authorizes with
    ``interim_updates``, asks for one more slice before each ends and, on
    the last, whispers the warning and hangs up when the money ends.

    0.50 EUR prepaid at 0.60 a minute in 1-second steps is 50 seconds of
    talk; slices of 4 s; a limit of 5 calls. The five calls start with
    4 s each (0.20 held), then 8 s each (0.40), then share the last
    0.10: the grants add up to the 50 seconds (e.g. 12+12+10+8+8, the
    split depending on which asks first). Each call is cut by the bridge
    at its grant; its billable seconds are its grant, or one less when
    the cut lands a few milliseconds short of the whole second (truncated
    as Asterisk's billsec): the five cost 0.45 to 0.50 together, never
    more than the balance."""
    codes = make_accounts(platform, {'slice-user': {
                'billing_mode': 'prepaid', 'max_outbound': 5,
                'topup': '0.50'}})
    code = codes['slice-user']
    calls = []

    async def scenario():
        async with AriSimulator() as sim:
            bridge = Bridge(dataclasses.replace(
                    config(sim, platform, tmp_path),
                    update_before=1.5, warning_before=2.0))
            async with running(bridge):
                await sim.wait_for_app('telecom')
                for _ in range(5):
                    calls.append(sim.originate_inbound(
                            '442071230000', CALLEE, ['user=slice-user']))
                assert all([await settle(sim, c) for c in calls])
                for cid in calls:
                    sim.answer(cid)
                # Nobody hangs up: the bridge cuts each call.
                await sim.wait_for(lambda: all(
                        sim.channel(c).destroyed for c in calls),
                    timeout=40)
                await eventually(lambda: not bridge.journal.pending, 15)
                return {c: sim.channel(c).whispered for c in calls}, [
                    r.query for r in sim.find_requests('DELETE')
                    if r.path in {'/ari/channels/%s' % c for c in calls}]
    whispered, hangups = asyncio.run(asyncio.wait_for(scenario(), 90))

    # Every caller heard the warning before the bridge hung up (16).
    assert whispered == {c: ['sound:beep'] for c in calls}
    assert hangups == [{'reason_code': '16'}] * 5
    wait_all_rated(platform, calls)
    rows = platform.sql(
        'SELECT c.duration, l.amount FROM telecom_cdr c '
        'JOIN telecom_cdr_charge l ON l.cdr = c.id AND l.current '
        'WHERE c.call_id = ANY(%s)', calls)
    assert len(rows) == 5
    seconds = sum(duration for duration, _ in rows)
    cost = sum(Decimal(amount) for _, amount in rows)
    # All five ran past the first slices: the money was shared.
    assert all(duration >= 7 for duration, _ in rows), rows
    assert 45 <= seconds <= 50, rows
    assert cost == Decimal('0.01') * seconds
    assert Decimal('0.45') <= cost <= Decimal('0.50')
    balance, = platform.tryton(f"""
Account = pool.get('telecom.account')
account, = Account.search([('code', '=', {code!r})])
result = [str(account.balance)]
""")
    assert Decimal(balance) == Decimal('0.50') - cost >= 0
    assert platform.sql(
        'SELECT call_id FROM telecom_live_call WHERE call_id = ANY(%s)',
        calls) == []


def test_calls_asterisk_no_longer_has_are_released(platform, tmp_path):
    """Issue 15, defect 5b on Asterisk: every --reconcile-interval seconds
    the bridge reads Asterisk's channels. A call whose channel vanished
    without any event is closed by the bridge (CDR and end); a live call
    of the API the bridge does not know (a lost spool) and Asterisk does
    not have, authorized over a minute ago, is released by the API from
    the list the bridge sends (POST /v1/reconcile) — postpaid, a limit
    of 2: two calls fit again."""
    make_accounts(platform, {'rec-ast': {'max_outbound': 2}})
    lost = 'lost-%s' % uuid.uuid4().hex[:8]
    assert platform.authorize('rec-ast', CALLEE, call_id=lost)[
        'decision'] == 'allow'
    platform.sql('UPDATE telecom_live_call SET authorized_at = '
        "authorized_at - interval '2 minutes' WHERE call_id = %s "
        'RETURNING call_id', lost)

    def ended(cid):
        return platform.sql('SELECT ended_at IS NOT NULL '
            'FROM telecom_live_call WHERE call_id = %s', cid) != [(False,)]

    async def scenario():
        async with AriSimulator() as sim:
            bridge = Bridge(dataclasses.replace(
                    config(sim, platform, tmp_path),
                    reconcile_interval=0.5))
            async with running(bridge):
                await sim.wait_for_app('telecom')
                cid = sim.originate_inbound('442071230000', CALLEE,
                    ['user=rec-ast'])
                assert await settle(sim, cid)
                sim.answer(cid)
                await asyncio.sleep(1)
                sim.vanish(cid)
                await eventually(lambda: cid in bridge.finished
                    and not bridge.journal.pending, 10)
                await asyncio.to_thread(eventually_sync,
                    lambda: ended(lost), 10)
        return cid
    cid = asyncio.run(asyncio.wait_for(scenario(), 60))

    assert platform.sql('SELECT disposition FROM telecom_cdr '
        'WHERE call_id = %s', cid) == [('ANSWERED',)]
    assert ended(cid) and ended(lost)
    assert [platform.authorize('rec-ast', CALLEE)['decision']
        for _ in range(2)] == ['allow', 'allow']


def wait_all_rated(platform, calls, timeout=30):
    "Wait until the rating worker rated the CDR of each of ``calls``"
    eventually_sync(lambda: platform.sql(
            "SELECT COUNT(*) FROM telecom_cdr WHERE state = 'rated' "
            'AND call_id = ANY(%s)', calls) == [(len(calls),)], timeout)


def eventually_sync(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.2)


def test_api_down_and_bridge_killed_lose_and_double_nothing(
        platform, tmp_path):
    """Issue 15, defect 5a on Asterisk, the journal checked: the API is
    down for 8 s (16 times the bridge's longest retry delay here, as 10
    minutes are to its 60 s cap) while calls end, and the bridge itself
    (``telecom-ari-bridge``) is killed with SIGKILL twice meanwhile, the
    first time mid-write of its journal (the line it leaves torn). Once
    the API is back every CDR is stored exactly once, in the order the
    calls ended, with its seconds, and every slot is released."""
    spool = tmp_path / 'spool'
    log = open(tmp_path / 'bridge.log', 'w')
    # call id → seconds from its answer to its end on Asterisk's clock
    talked = {}

    async def scenario():
        async with AriSimulator() as sim:
            argv = [sys.executable, '-m',
                'trytond.modules.telecom_switch.bridge.ari',
                '--ari-url', sim.url, '--ari-user', sim.user,
                '--ari-password', sim.password, '--api-url', platform.url,
                '--api-key', platform.keys['owner_key'],
                '--spool-dir', str(spool), '--retry-initial', '0.1',
                '--retry-max', '0.5', '--reconcile-grace', '0.3',
                '--reconnect-initial', '0.05', '--reconnect-max', '0.2']

            async def start():
                process = await asyncio.create_subprocess_exec(
                    *argv, cwd=ROOT, stdout=log, stderr=log)
                processes.append(process)
                await sim.wait_for_app('telecom', timeout=30)
                return process

            async def kill(process):
                process.kill()
                await process.wait()
                await sim.wait_for(
                    lambda: not sim.app_connected('telecom'))

            async def end(cid):
                sim.advance(10)
                talked[cid] = (
                    sim.now() - sim.channel(cid).answered_at).total_seconds()
                sim.hangup(cid, cause=16)
                # its CDR and end journaled
                await asyncio.sleep(0.5)

            bridge = await start()
            calls = [sim.originate_inbound('442071230000', CALLEE, USER)
                for _ in range(6)]
            assert all([await settle(sim, c) for c in calls])
            for cid in calls:
                sim.answer(cid)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(platform.stop_api, True)
            outage = time.monotonic()
            for cid in calls[:3]:
                await end(cid)
            await kill(bridge)
            with open(spool / 'journal.jsonl', 'a') as file:
                file.write('{"seq":99,"path":"/v1/cd')
            # The next run adopts the three live calls; one ends.
            bridge = await start()
            await asyncio.sleep(1)
            await end(calls[3])
            await kill(bridge)
            await asyncio.sleep(max(0, outage + 8 - time.monotonic()))
            await asyncio.to_thread(platform.start_api)
            bridge = await start()
            await asyncio.sleep(1)
            for cid in calls[4:]:
                await end(cid)
            await asyncio.to_thread(eventually_sync, lambda: platform.sql(
                    'SELECT COUNT(*) FROM telecom_cdr '
                    'WHERE call_id = ANY(%s)', calls) == [(6,)], 30)
        return calls

    async def bounded():
        try:
            return await asyncio.wait_for(scenario(), 120)
        finally:
            # none left running, whatever failed
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    processes = []
    try:
        calls = asyncio.run(bounded())
    finally:
        log.close()

    stored = platform.sql('SELECT call_id, duration FROM telecom_cdr '
        'WHERE call_id = ANY(%s) ORDER BY id', calls)
    # In the order the calls ended, once each, with the seconds they
    # lasted (10 s more each: Asterisk's clock moved before each end).
    assert [c for c, _ in stored] == calls
    assert all(0 <= talked[c] - seconds < 1 for c, seconds in stored), (
        stored, talked)
    assert all(talked[b] - talked[a] > 10
        for a, b in zip(calls, calls[1:])), talked
    wait_all_rated(platform, calls)
    assert platform.sql(
        'SELECT call_id FROM telecom_live_call WHERE call_id = ANY(%s)',
        calls) == []
