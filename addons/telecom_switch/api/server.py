"""``telecom-callcontrol``: the call-control HTTP API (F4, F5, F21, F22).

An aiohttp process beside trytond. It decides calls from an in-memory
snapshot (``snapshot.py``) and keeps concurrency slots and prepaid
reservations in the database (``store.py``), so any number of API processes
can serve one platform. The only Tryton work here is building the
snapshot, in a worker thread; CDRs are stored with plain SQL by the store,
and rating them is the rating worker's (``rater.py``), a process of its own
that this one starts: the request path never waits on the ORM.
"""
import argparse
import asyncio
import base64
import collections
import concurrent.futures
import datetime as dt
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import orjson
from aiohttp import web

from trytond.modules.telecom_base.numbering import callee_as_authorized
from trytond.modules.telecom_rating import cdr_row

from . import store as sql
from .openapi import DOCUMENT
from .rater import CHANNEL as RATER_CHANNEL, open_database
from .store import PostgreSQLStore, Request, SQLiteStore
from .validation import (
    TOKEN, Invalid, call_target, choice, instant, integer, number,
    require_object, string)
from .vouchers import Vouchers

logger = logging.getLogger('telecom.callcontrol')
UTC = dt.timezone.utc

# reason → (Q.850 cause, SIP code) of a refusal
DENIALS = {
    'unknown_account': (21, 403),
    'account_suspended': (21, 403),
    'concurrency_limit': (34, 403),
    'insufficient_credit': (21, 402),
    'no_route': (3, 404),
    'invalid_number': (28, 484),
    'call_completed': (21, 403),
    }
SMALL_BODY = 16 * 1024
CDR_BODY = 8 * 1024 * 1024
MAX_CDRS = 10000


def dumps(data):
    """JSON bytes; Decimal (prices) as its string, never a float. orjson:
    0.5 us of CPU for an authorize answer against the stdlib's 7.4 (and
    0.6 against 3.8 to parse its request; measured here)."""
    return orjson.dumps(data, default=str)


def json_response(data, status=200):
    return web.Response(
        body=dumps(data), status=status, content_type='application/json')


def problem(status, error, field=None):
    body = {'error': error}
    if field:
        body['field'] = field
    return json_response(body, status)


class CallControl:
    "The API's state: the snapshot, the store and the Tryton database"

    def __init__(self, database, store, refresh=2.0,
            max_call_seconds=4 * 3600, lag_probe=False, max_body=CDR_BODY,
            slice_seconds=300, reconcile_interval=60.0):
        self.database = database
        self.reconcile_interval = reconcile_interval
        self.slice_seconds = slice_seconds
        self.store = store
        # The largest body of a CDR batch or a reconcile (413 above)
        self.max_body = max_body
        # The plausible CDRs: trytond's [telecom] cdr_* (``start``)
        self.window = cdr_row.WINDOW
        self.refresh_interval = refresh
        self.max_call_seconds = max_call_seconds
        self.snapshot = None
        self.tasks = []
        self.lag = LagProbe() if lag_probe else None
        # Every Tryton transaction of this process runs in this one thread.
        # trytond keeps its cache listeners per thread (PostgreSQL): each
        # new thread that opens a transaction starts one more, which clears
        # every cache when it starts — and so rebuilt the snapshot (up to a
        # second holding the GIL) each time asyncio's pool used a new
        # thread for a refresh or a voucher.
        self.tryton = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix='tryton')

    async def in_tryton(self, function, *args):
        "Run ``function(*args)`` in the Tryton thread"
        return await asyncio.get_running_loop().run_in_executor(
            self.tryton, function, *args)

    def _cache_listening(self):
        """Whether this thread's trytond cache listener is up (or there is
        none: SQLite, or a clean_timeout)"""
        from trytond.cache import MemoryCache
        listener = MemoryCache._local.listeners.get(self.database)
        return listener is None or getattr(listener, 'listening', False)

    # --- Tryton side (worker threads) ------------------------------------

    def _transaction(self, readonly=False):
        from trytond.transaction import Transaction
        return Transaction().start(self.database, 0, readonly=readonly)

    def _load(self, force=False):
        from trytond.modules.telecom_lcr.engine import route_call
        from trytond.modules.telecom_lcr.routing import load_routing
        from trytond.modules.telecom_rating.tariff import load_tariff
        from trytond.modules.telecom_lcr.quality import load_quality
        from trytond.modules.telecom_switch.switch import snapshot_cache
        from trytond.pool import Pool

        from . import snapshot as snapshots
        pool = Pool(self.database)
        with self._transaction(readonly=True):
            tariff = load_tariff()
            # Cached by telecom_lcr until a carrier, gateway or deck
            # changes: a new index is a new snapshot.
            index = load_routing()
            # Carrier ASR/ACD/PDD for the quality strategy (F20): a new
            # refresh of the statistics is a new snapshot too.
            stats = load_quality()
            current = self.snapshot
            if (not force and current is not None
                    and current.tariff is tariff
                    and current.routing is index
                    and getattr(current, 'stats', None) is stats
                    and snapshot_cache.get('built') is not None):
                return current

            def router(plan, service, caller, callee, at, account,
                    sell_price):
                return route_call(
                    index, plan, service, caller, callee, at,
                    account=account, sell_price=sell_price, stats=stats)
            built = snapshots.build(pool, tariff, router)
            built.routing = index
            built.stats = stats
            snapshot_cache.set('built', True)
            return built

    # --- CDR ingest ---------------------------------------------------------

    async def _ingest(self, switch, cdrs):
        """Store the CDR rows ``cdrs`` — [(index, row)] (``parse_cdr``) —
        of ``switch``; return (stored, duplicates, rejected, ignored,
        conflicts). Plain SQL through the store (two statements), no
        Tryton transaction: this process keeps its CPU for decisions.
        Rating is the rating worker's (``rater.py``), woken by the store's
        NOTIFY (PostgreSQL) or its polling (SQLite)."""
        snapshot = self.snapshot
        # Only the switch's tenants' accounts: a switch never bills
        # another tenant's customer.
        codes = {a.code: a.id for a in snapshot.accounts.values()
            if a.company in switch.companies}
        found = await self.store.lookup_cdrs(switch.id, switch.code,
            [(cdr['call_id'], cdr['leg']) for _, cdr in cdrs])
        rows, rejected, ignored, conflicts = [], [], [], []
        known, keys = 0, set()
        for (index, cdr), (stored, account, callee) in zip(cdrs, found):
            if account is not None:
                # Rate what was authorized and priced: the number
                # normalized, without the customer's tech prefix (a
                # switch reports the number as dialled).
                if callee:
                    cdr = {**cdr, 'callee': callee}
            elif cdr['account'] in codes:
                account = codes[cdr['account']]
                # No live call (expired, or a CDR replayed late): the
                # number as dialled, normalised as authorize does (00…,
                # national forms), else it is never rated.
                cdr = {**cdr, 'callee': as_authorized(
                        snapshot, snapshot.accounts[account], cdr)}
            elif stored is None:
                reason = unbillable(snapshot, cdr)
                if reason:
                    ignored.append({'index': index, 'reason': reason})
                else:
                    rejected.append({'index': index,
                            'reason': "unknown account: no call was "
                            "authorized with this call id and no account "
                            "code was given"})
                continue
            cdr = {**cdr, 'account': account or stored['account']}
            if stored is not None:
                # Already stored: a replay is a duplicate; another CDR
                # under the same call id is a conflict, never stored
                # over the first nor dropped in silence.
                differ = cdr_row.conflicts(cdr, stored)
                if differ:
                    conflicts.append(conflict(index, differ, stored,
                            snapshot))
                else:
                    known += 1
                continue
            if (cdr['call_id'], cdr['leg']) in keys:
                known += 1      # twice in one batch: stored once
                continue
            keys.add((cdr['call_id'], cdr['leg']))
            rows.append(cdr)
        stored = (await self.store.insert_cdrs(rows, RATER_CHANNEL)
            if rows else 0)
        return (stored, known + len(rows) - stored, rejected, ignored,
            conflicts)

    # --- lifecycle ----------------------------------------------------------

    async def start(self):
        from trytond.modules.telecom_rating.cdr import cdr_window
        self.window = cdr_window()
        if hasattr(self.store, 'open'):
            await self.store.open()
        await self.refresh(True)
        # The first transaction started trytond's cache listener, which
        # clears every cache once it listens: rebuild after that, before
        # serving, rather than seconds into the traffic.
        deadline = time.monotonic() + 10
        while (not await self.in_tryton(self._cache_listening)
                and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        await self.refresh()
        self.tasks = [
            asyncio.create_task(self._refresh_loop()),
            asyncio.create_task(self._expire_loop()),
            asyncio.create_task(self._reconcile_loop()),
            ]
        if self.lag:
            self.tasks.append(asyncio.create_task(self.lag.run()))
            # a benchmark starts its measured window with SIGUSR1: what
            # the probe saw of the set-up (snapshot builds) is forgotten
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGUSR1, self.lag.reset)

    async def stop(self):
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()
        self.tryton.shutdown(wait=False)
        if self.lag:
            logger.info("%s", self.lag.summary())

    async def refresh(self, force=False):
        started = time.perf_counter()
        snapshot = await self.in_tryton(self._load, force)
        if snapshot is not self.snapshot:
            # A rebuild holds the GIL for a good part of its time: the
            # requests of that moment wait (the lag probe shows it).
            logger.info("snapshot built in %.2f s: %d accounts",
                time.perf_counter() - started, len(snapshot.accounts))
            self.snapshot = snapshot
            # A snapshot is hundreds of thousands of long-lived objects
            # (compiled tariff and routing indexes). Left in the young
            # generations, every later collection walks them again: the
            # routing engine's author measured compiles 20x slower without
            # freezing. Collect the build's garbage, then freeze the rest
            # out of the collector's sight. Never unfreeze: a collection
            # of everything (trytond's ~150,000 objects frozen at the first
            # build) held the loop 130-140 ms at each rebuild, to find
            # nothing — a dropped snapshot, tariff or routing index has no
            # cycles (docs/PERFORMANCE.md), refcounting frees it, frozen
            # or not.
            gc.collect()
            gc.freeze()

    async def _refresh_loop(self):
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
            except Exception:
                logger.exception("snapshot refresh failed; keeping the "
                    "previous one")

    async def _expire_loop(self):
        while True:
            await asyncio.sleep(30)
            try:
                await self.store.expire(sql.Store.now())
            except Exception:
                logger.exception("expiring live calls failed")

    # --- requests -----------------------------------------------------------

    def switch_of(self, request):
        from ..switch import hash_key
        key = switch_key(request.headers.get('Authorization', ''))
        if not key:
            raise web.HTTPUnauthorized(
                body=dumps({'error': "a switch key is required"}),
                content_type='application/json')
        switch = self.snapshot.switches.get(hash_key(key))
        if switch is None:
            raise web.HTTPUnauthorized(
                body=dumps({'error': "unknown switch key"}),
                content_type='application/json')
        return switch

    async def authorize(self, request):
        switch = self.switch_of(request)
        body = require_object(await read_json(request, SMALL_BODY))
        call_id = string(body, 'call_id', pattern=TOKEN)
        leg = string(body, 'leg', False, TOKEN, 16) or 'a'
        direction = choice(body, 'direction', ('outbound', 'inbound'),
            'outbound')
        service = choice(body, 'service', ('voice', 'fax', 'sms'), 'voice')
        caller = number(body, 'caller', False) or ''
        dialled = call_target(body, 'callee')
        sip_username = string(body, 'sip_username', False, TOKEN)
        source_ip = string(body, 'source_ip', False, max_length=64)
        sip_domain = string(body, 'sip_domain', False, TOKEN)

        snapshot = self.snapshot
        account_id, dialled = snapshot.identify(
            direction, dialled, sip_username, source_ip, sip_domain)
        account = snapshot.accounts.get(account_id)
        if account is None or account.company not in switch.companies:
            return deny('unknown_account')
        emergency = (direction == 'outbound'
            and snapshot.is_emergency(account, dialled))
        if not emergency and account.state != 'active':
            return deny('account_suspended', account)
        if emergency:
            callee = dialled
        else:
            callee = (snapshot.normalize(account, dialled)
                if direction == 'outbound' else dialled)
            if callee is None:
                return deny('invalid_number', account)
            caller = snapshot.normalize(account, caller) or caller
        at = dt.datetime.now(UTC)

        price = Decimal(0)
        cost_of = _free
        currency = account.currency
        inbound = direction == 'inbound'
        if not emergency:
            priced = snapshot.pricer(
                account, direction, service, caller, callee, at,
                snapshot.convert)
            if not isinstance(priced, str):
                cost_of, _ = priced
                price = cost_of(120) - cost_of(60)
            elif not inbound:
                # Inbound calls without an inbound plan are free; an
                # outbound call without a price is not routed.
                logger.info("no price for %s: %s", call_id, priced)
                return deny('no_route', account)
        # Inbound calls ring the line or trunk of the number or SIP
        # address; outbound ones go to carriers.
        if inbound:
            routes = snapshot.inbound_routes(callee, sip_domain)
        else:
            routes = snapshot.routes(account, service, caller, callee, at,
                price, emergency, switch)
        if not routes:
            return deny('no_route', account)

        max_seconds, sliced = self._first_slice(body, account, emergency)
        # One round trip: a call whose CDR is stored is refused there
        # (call_completed), a replayed one finds its admission.
        admission = await self.store.admit(Request(
                switch.id, call_id, leg, account.id, direction, callee,
                emergency, account.limits, account.credit_limit,
                account.prepaid, cost_of, price, max_seconds,
                self.max_call_seconds + 600, switch.code, service, caller))
        if not admission.allowed:
            return deny(admission.reason, account)
        return json_response({
                'decision': 'allow',
                'reason': 'emergency' if emergency else 'ok',
                'account': account.code,
                'max_duration': admission.max_duration,
                'price_per_minute': str(price),
                'currency': currency,
                'over_limit': admission.over_limit,
                'final': sliced and (admission.max_duration < max_seconds
                    or max_seconds >= self.max_call_seconds),
                'routes': routes,
                'rtjson': rtjson(routes, admission.max_duration),
                })

    # --- slices and interim updates -------------------------------------

    def _first_slice(self, body, account, emergency):
        """(seconds asked for, sliced): a switch that sends interim updates
        (``interim_updates``) gets a call of an account with a balance or
        a credit limit granted a slice at a time, so its other calls share
        the money; else the longest call that fits, up to 4 h."""
        interim = body.get('interim_updates')
        if interim is not None and not isinstance(interim, bool):
            raise Invalid('interim_updates', "must be true or false")
        if (interim is True and not emergency
                and (account.prepaid or account.credit_limit is not None)):
            return min(self.slice_seconds, self.max_call_seconds), True
        return self.max_call_seconds, False

    async def update(self, request):
        """An interim update of a live call: one more slice, as much of it
        as the money allows; ``final`` when the call must end at
        ``max_duration`` (the switch plays the F22 warning and cuts)."""
        switch = self.switch_of(request)
        call_id = path_call_id(request)
        body = require_object(await read_json(request, SMALL_BODY, {}))
        leg = string(body, 'leg', False, TOKEN, 16) or 'a'
        rows = await self.store.fetch(
            self.store.q(sql.PRICED), switch.id, call_id, leg)
        snapshot = self.snapshot
        account = snapshot.accounts.get(rows[0][0]) if rows else None
        if account is None:
            return problem(404, "no live call with this id", 'call_id')
        # Priced as at the admission: its service, and its caller (an
        # inbound plan may price by where the call comes from).
        _, direction, callee, service, caller = rows[0]
        priced = snapshot.pricer(account, direction, service or 'voice',
            caller or '', callee, dt.datetime.now(UTC), snapshot.convert)
        if isinstance(priced, str) or not (
                account.prepaid or account.credit_limit is not None):
            # Free, or no money limit: nothing to hold.
            return json_response({'max_duration': None, 'final': False})
        granted = await self.store.extend(
            switch.id, call_id, leg, priced[0], self.slice_seconds,
            self.max_call_seconds, account.credit_limit or Decimal(0),
            account.prepaid)
        if granted is None:
            return problem(404, "no live call with this id", 'call_id')
        return json_response({'max_duration': granted.max_duration,
                'final': granted.final})

    async def health(self, request):
        """Up; and how many live calls expired without their CDR
        (``telecom.missing_cdr``: the operator's to look at), null when
        the database cannot say"""
        try:
            (missing,), = await self.store.fetch(
                'SELECT COUNT(*) FROM telecom_missing_cdr')
        except Exception:
            logger.exception("counting the missing CDRs failed")
            missing = None
        return json_response({'status': 'ok', 'missing_cdrs': missing})

    async def answer(self, request):
        switch = self.switch_of(request)
        call_id = path_call_id(request)
        body = require_object(await read_json(request, SMALL_BODY, {}))
        leg = string(body, 'leg', False, TOKEN, 16) or 'a'
        answered = (
            instant(body, 'answered_at', False) or dt.datetime.now(UTC))
        await self.store.execute(
            self.store.q(sql.ANSWER), naive(answered), switch.id, call_id,
            leg)
        return web.Response(status=204)

    async def end(self, request):
        switch = self.switch_of(request)
        call_id = path_call_id(request)
        body = require_object(await read_json(request, SMALL_BODY, {}))
        leg = string(body, 'leg', False, TOKEN, 16) or 'a'
        ended = instant(body, 'ended_at', False) or dt.datetime.now(UTC)
        integer(body, 'cause', False, 0, 127)
        ended = naive(ended)
        # Frees the slot; the reservation is kept until the call's CDR is
        # rated (store.END). Unknown or already ended: nothing.
        await self.store.end(
            switch.id, call_id, leg, ended, ended + dt.timedelta(hours=1))
        return web.Response(status=204)

    async def cdrs(self, request):
        switch = self.switch_of(request)
        body = await read_json(request, self.max_body)
        if isinstance(body, dict) and 'cdrs' in body:
            items = body['cdrs']
            if not isinstance(items, list):
                raise Invalid('cdrs', "must be an array")
            if len(items) > MAX_CDRS:
                raise Invalid('cdrs', f"has more than {MAX_CDRS} items")
        else:
            items = [require_object(body)]
        good, rejected = [], []
        now = sql.Store.now()
        for index, item in enumerate(items):
            try:
                good.append((index, parse_cdr(
                            item, switch.code, now, self.window)))
            except Invalid as exception:
                rejected.append({'index': index, 'reason': str(exception),
                        'field': exception.field})
        stored, duplicates, unknown, ignored, conflicts = (
            await self._ingest(switch, good))
        answer = {
            'accepted': stored, 'duplicates': duplicates,
            'rejected': rejected + unknown, 'ignored': ignored}
        if conflicts:
            # 409: the switch must look; the batch's other CDRs are
            # stored (sending them again is harmless).
            return json_response({
                    **answer, 'conflicts': conflicts,
                    'error': "a CDR with this call id is already stored "
                    "with other values"}, 409)
        if rejected and len(items) == 1 and 'cdrs' not in body:
            # One CDR refused: a 400 naming its field
            return json_response({
                    **answer, 'error': rejected[0]['reason'],
                    'field': rejected[0]['field']}, 400)
        return json_response(answer)

    async def reconcile(self, request):
        switch = self.switch_of(request)
        body = require_object(await read_json(request, self.max_body))
        calls = body.get('calls')
        if not isinstance(calls, list):
            raise Invalid('calls', "must be an array")
        live = set()
        for call in calls:
            call = require_object(call, 'calls[]')
            live.add((string(call, 'call_id', pattern=TOKEN),
                    string(call, 'leg', False, TOKEN, 16) or 'a'))
        return json_response(
            {'released': await self._release_vanished(switch, live)})

    # --- reconciliation with the switch's own list ------------------------

    async def _release_vanished(self, switch, live):
        """End the calls of ``switch`` not in ``live`` — {(call id, leg)}
        the switch has — authorized over a minute ago (newer ones may not
        be in its list yet): their slots are freed; their reservations
        kept until their CDRs are rated, as at an end (no end is a price),
        and a call whose CDR never comes becomes a missing CDR when it
        expires. Return how many."""
        now = sql.Store.now()
        rows = await self.store.fetch(self.store.q(sql.RECONCILE_SELECT),
            switch.id, now - dt.timedelta(minutes=1))
        released = 0
        for call_id, leg in rows:
            if (call_id, leg) not in live:
                await self.store.end(switch.id, call_id, leg, now,
                    now + dt.timedelta(hours=1))
                released += 1
        if released:
            logger.info("switch %s no longer has %d calls: released",
                switch.code, released)
        return released

    async def _reconcile_loop(self):
        "Every ``reconcile_interval`` s, each Kamailio with a JSON-RPC URL"
        while True:
            await asyncio.sleep(self.reconcile_interval)
            for switch in list(self.snapshot.switches.values()):
                if not switch.rpc_url:
                    continue
                try:
                    await self._release_vanished(
                        switch, await dialogs(switch.rpc_url))
                except Exception as exception:
                    # never release on a failed look: the switch may
                    # still have them all
                    logger.warning("reconciling %s failed: %r",
                        switch.code, exception)


class LagProbe:
    """How late the event loop runs a callback due every 5 ms: a
    request arriving during a stall waits as long (``--lag-probe``, for
    the benchmarks; the summary is logged when the API stops).

    Each stall (over ``stall`` seconds late) is explained by what the loop
    thread spent CPU on meanwhile (its own work: a long callback, a
    collection), the other threads' CPU (the Tryton thread holding the
    GIL) and the garbage collector's CPU; what is left is time the
    process waited for a core. A watchdog thread also takes the loop
    thread's stack when a stall has lasted ``stall`` seconds: where it
    stands."""

    # Every 5 ms, not every one: measured idle, a tick costs 45-50 us of
    # CPU (the wake-up), so at 1 ms the probe took 4 % of a core per
    # worker — 0.08 ms of the 1,000/s bench's CPU per authorize.
    def __init__(self, interval=0.005, stall=0.020):
        self.interval = interval
        self.stall = stall
        self.lags = []
        self.stalls = []    # (lag, loop CPU, other threads' CPU, GC) s
        self.stacks = collections.Counter()
        self.gc_seconds = 0.0
        self._gc_started = None
        self._tick = time.perf_counter()

    def reset(self):
        self.lags, self.stalls = [], []
        self.stacks.clear()
        logger.info("loop lag probe reset")

    def _gc(self, phase, info):
        if phase == 'start':
            # CPU of the collecting thread: a collection preempted by the
            # machine is the machine's wait, not the collector's cost
            self._gc_started = time.thread_time()
        elif self._gc_started is not None:
            self.gc_seconds += time.thread_time() - self._gc_started
            self._gc_started = None

    def _watch(self, thread_id):
        reported = None
        while True:
            time.sleep(self.stall / 4)
            tick = self._tick
            if tick != reported and time.perf_counter() - tick > self.stall:
                reported = tick
                frame = sys._current_frames().get(thread_id)
                where = []
                while frame is not None and len(where) < 6:
                    code = frame.f_code
                    where.append('%s:%d %s' % (
                        os.path.basename(code.co_filename), frame.f_lineno,
                        code.co_name))
                    frame = frame.f_back
                self.stacks[' < '.join(where) or 'idle (in C)'] += 1

    async def run(self):
        loop = asyncio.get_running_loop()
        gc.callbacks.append(self._gc)
        threading.Thread(target=self._watch, args=(threading.get_ident(),),
            daemon=True, name='lag-watchdog').start()
        self._schedule(loop)
        try:
            await loop.create_future()  # until cancelled
        finally:
            self._handle.cancel()
            gc.callbacks.remove(self._gc)

    # A timer callback, not a coroutine around asyncio.sleep(): a third of
    # the CPU per tick (no future, no task step), and the probe ticks a
    # thousand times a second beside the requests it measures.
    def _schedule(self, loop):
        # perf_counter: uvloop's clock counts whole milliseconds
        self._due = time.perf_counter() + self.interval
        self._loop_cpu, self._cpu = time.thread_time(), time.process_time()
        self._collected = self.gc_seconds
        self._handle = loop.call_later(self.interval, self._fire, loop)

    def _fire(self, loop):
        self._tick = now = time.perf_counter()
        lag = now - self._due
        self.lags.append(lag)
        if lag > self.stall:
            own = time.thread_time() - self._loop_cpu
            self.stalls.append((lag, own,
                    time.process_time() - self._cpu - own,
                    self.gc_seconds - self._collected))
        self._schedule(loop)

    def summary(self):
        lags = sorted(self.lags)
        if not lags:
            return "loop lag: no sample"

        def at(q):
            return lags[min(len(lags) - 1, int(q * len(lags)))] * 1000
        text = ("loop lag ms: %d samples, p50 %.2f p99 %.2f p99.9 %.2f "
            "max %.2f; over 5 ms %d, over 20 ms %d" % (
                len(lags), at(0.5), at(0.99), at(0.999), lags[-1] * 1000,
                sum(lag > 0.005 for lag in lags),
                sum(lag > 0.020 for lag in lags)))
        if self.stalls:
            lag, own, other, collected = (
                sum(column) * 1000 for column in zip(*self.stalls))
            text += ("\nloop lag stalls over %d ms: %d, %.0f ms in all: "
                "loop thread CPU %.0f ms (GC %.0f), other threads' CPU "
                "%.0f ms, waiting for a core %.0f ms; worst %s" % (
                    self.stall * 1000, len(self.stalls), lag, own,
                    collected, other, max(0, lag - own - other),
                    ', '.join('%.0f (loop %.0f, others %.0f, GC %.0f)' % (
                            s[0] * 1000, s[1] * 1000, s[2] * 1000,
                            s[3] * 1000)
                        for s in sorted(self.stalls, reverse=True)[:3])))
        for where, count in self.stacks.most_common(5):
            text += "\nloop lag stall stack (%d): %s" % (count, where)
        return text


async def dialogs(url, timeout=5.0):
    """{(call id, 'a')} of the dialogs Kamailio has: ``dlg.list`` over its
    JSON-RPC (jsonrpcs over HTTP). Raise on anything else than a list."""
    import aiohttp
    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.post(url, json={'jsonrpc': '2.0',
                    'method': 'dlg.list', 'id': 1}) as response:
            response.raise_for_status()
            answer = orjson.loads(await response.read())
    result = answer.get('result') if isinstance(answer, dict) else None
    if result is None and isinstance(answer, dict) and 'error' in answer:
        raise ValueError("dlg.list: %r" % answer['error'])
    if result is None:
        result = []   # no dialog: kamailio answers an empty result
    if not isinstance(result, list):
        raise ValueError("dlg.list: not a list")
    return {(d['call-id'], 'a') for d in result
        if isinstance(d, dict) and isinstance(d.get('call-id'), str)}


def switch_key(header):
    """The switch key of an Authorization header: ``Bearer <key>``, or
    ``Basic`` with the key as the password (the user name is not read).
    Basic is for Kamailio: its http_client keeps connections open only for
    named connections, whose credentials are a user and a password."""
    scheme, _, credentials = header.partition(' ')
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == 'bearer':
        return credentials
    if scheme == 'basic':
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ''
        return decoded.partition(':')[2]
    return ''


def _free(seconds):
    return Decimal(0)


def unbillable(snapshot, cdr):
    """Why a CDR of no known account is nothing to bill (it is then ignored,
    not an error), or None: an emergency call the proxy routed without
    asking (Kamailio), or a call never admitted that was not answered (the
    ARI bridge's CDR of a denied call)."""
    callee = cdr['callee']
    if any(callee in numbers for numbers in snapshot.emergency.values()):
        return ("emergency call routed without authorization: "
            "never billed")
    if not cdr['duration'] and cdr.get('answer') is None:
        return "call never authorized nor answered: nothing to bill"
    return None


def as_authorized(snapshot, account, cdr):
    """The callee of a CDR as authorize normalises it (the same rules, so
    a call priced at authorize is rated at that price; numbering's
    callee_as_authorized, as Cdr.ingest)"""
    return callee_as_authorized(cdr['callee'], cdr['direction'],
        snapshot.emergency.get(None, frozenset())
        | snapshot.emergency.get(account.country, frozenset()),
        **snapshot.dialling(account))


def naive(moment):
    return moment.astimezone(UTC).replace(tzinfo=None)


def deny(reason, account=None):
    q850, sip_code = DENIALS[reason]
    body = {'decision': 'deny', 'reason': reason, 'q850': q850,
        'sip_code': sip_code}
    if account is not None:
        body['account'] = account.code
    return json_response(body)


def path_call_id(request):
    call_id = request.match_info['call_id']
    if not TOKEN.match(call_id):
        raise Invalid('call_id', "has characters that are not allowed")
    return call_id


# The CDR fields the API names otherwise than the row (for messages)
CDR_NAMES = {'duration': 'billable_seconds'}


def parse_cdr(item, switch, now, window=cdr_row.WINDOW):
    """A CDR of the API (JSON) as a row (cdr_row) of ``switch``'s code; its
    ``account``: the account code given, or None. Invalid names the field
    wrong or implausible."""
    item = require_object(item, 'cdr')
    values = {
        'switch': switch,
        'call_id': string(item, 'call_id', pattern=TOKEN),
        'leg': string(item, 'leg', False, TOKEN, 16) or 'a',
        'direction': choice(item, 'direction', cdr_row.DIRECTIONS,
            'outbound'),
        'service': choice(item, 'service', cdr_row.SERVICES, 'voice'),
        'caller': number(item, 'caller', False) or '',
        'callee': number(item, 'callee'),
        'start': instant(item, 'start'),
        'answer': instant(item, 'answer', False),
        'end': instant(item, 'end', False),
        'duration': integer(item, 'billable_seconds', True, 0,
            cdr_row.MAX_SECONDS),
        'disposition': choice(item, 'disposition', cdr_row.DISPOSITIONS,
            None) if item.get('disposition') is not None else None,
        'hangup_cause': integer(item, 'hangup_cause', False, 0, 127),
        'carrier': string(item, 'carrier', False, TOKEN, 64),
        'pdd_ms': integer(item, 'pdd_ms', False, 0, cdr_row.MAX_PDD_MS),
        }
    account = string(item, 'account', False, TOKEN, 64)
    row = cdr_row.cdr_row({**values, 'account': account or ''}, now,
        window, CDR_NAMES)
    row['account'] = account
    return row


def conflict(index, fields, stored, snapshot):
    "The answer for a CDR that differs from the one stored under its id"
    account = snapshot.accounts.get(stored['account'])
    shown = {**stored, 'account': account.code if account else None,
        'billable_seconds': stored['duration'],
        'start': stored['start'].replace(tzinfo=UTC).isoformat()}
    del shown['duration']
    return {'index': index,
        'fields': [CDR_NAMES.get(f, f) for f in fields],
        'stored': shown}


async def read_body(request, limit):
    """The whole body, at most ``limit`` bytes, else 413. Not one
    ``content.read(n)``: that returns what has arrived so far, and a body
    split over TCP segments (any batch of CDRs, a request over ~1.4 kB on
    a real network) was cut and refused as invalid JSON."""
    length = request.content_length
    if length is not None and length > limit:
        raise web.HTTPRequestEntityTooLarge(limit, length)
    raw = bytearray()
    while True:
        chunk = await request.content.read(limit + 1 - len(raw))
        if not chunk:
            return bytes(raw)
        raw += chunk
        if len(raw) > limit:
            raise web.HTTPRequestEntityTooLarge(limit, len(raw))


async def read_json(request, limit, default=None):
    raw = await read_body(request, limit)
    if not raw.strip():
        if default is not None:
            return default
        raise Invalid('body', "is empty")
    # orjson: floats come as float, which no field accepts (integers and
    # strings only); NaN, infinities, invalid UTF-8 and over 1,024 levels
    # of nesting are not valid JSON to it
    try:
        return orjson.loads(raw)
    except ValueError:
        raise Invalid('body', "is not valid JSON") from None


def rtjson(routes, max_duration):
    """The routes as Kamailio's rtjson document (switch/kamailio/README.md):
    tried in order (serial forking), the next one on failure. ``carrier``
    is ours — rtjson ignores it; the proxy writes it on the CDR."""
    return {
        'version': '1.0',
        'routing': 'serial',
        'routes': [{
                'uri': route['uri'],
                'dst_uri': route['dst_uri'],
                'carrier': route['carrier'],
                } for route in routes],
        }


@web.middleware
async def errors(request, handler):
    try:
        return await handler(request)
    except Invalid as exception:
        return problem(400, exception.reason, exception.field)
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("request failed: %s %s", request.method,
            request.path)
        return problem(500, "internal error")


def make_app(control):
    app = web.Application(
        middlewares=[errors], client_max_size=control.max_body)
    app.router.add_post('/v1/authorize', control.authorize)
    app.router.add_post('/v1/calls/{call_id}/answer', control.answer)
    app.router.add_post('/v1/calls/{call_id}/end', control.end)
    app.router.add_post('/v1/cdrs', control.cdrs)
    app.router.add_post('/v1/reconcile', control.reconcile)
    app.router.add_post('/v1/calls/{call_id}/update', control.update)
    app.router.add_post('/v1/vouchers/redeem', Vouchers(control).redeem)
    app.router.add_get(
        '/openapi.json', lambda request: json_response(DOCUMENT))
    app.router.add_get('/health', control.health)

    async def on_startup(app):
        await control.start()

    async def on_cleanup(app):
        await control.stop()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def make_store(database, uri=None):
    """The store of the database trytond is configured for; ``uri``: a
    libpq URI of that database for the hot path instead (e.g. its Unix
    socket, a quarter cheaper a statement than TCP on loopback)."""
    from trytond import backend, config
    if backend.name == 'sqlite':
        path = os.path.join(
            config.get('database', 'path'), database + '.sqlite')
        return SQLiteStore(path)
    if uri:
        return PostgreSQLStore(uri)
    uri = config.get('database', 'uri')
    return PostgreSQLStore(uri.rstrip('/') + '/' + database)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='telecom-callcontrol', description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--listen', default='127.0.0.1:8090',
        help="host:port (default 127.0.0.1:8090)")
    parser.add_argument('--refresh', type=float, default=2.0,
        help="seconds between snapshot checks (default 2)")
    parser.add_argument('--no-rater', action='store_true',
        help="do not start the rating worker: stored CDRs wait for the "
        "rating cron (or a rater run apart)")
    parser.add_argument('--rater-poll', type=float, default=2.0,
        help="seconds between the rating worker's looks for CDRs when "
        "none is announced (SQLite: its only trigger; default 2)")
    parser.add_argument('--workers', type=int, default=1,
        help="processes serving the same port (SO_REUSEPORT; default 1): "
        "each holds its own snapshot, they share the database")
    parser.add_argument('--store-uri', default=None,
        help="PostgreSQL: libpq URI of the database for slots and "
        "reservations (default: trytond's [database] uri), e.g. "
        "'postgresql://postgres@/DB?host=/var/run/postgresql'")
    parser.add_argument('--max-body', type=int, default=CDR_BODY,
        help="largest body of a CDR batch or a reconcile, in bytes "
        "(default %d): a larger one is refused whole with 413" % CDR_BODY)
    parser.add_argument('--slice', type=int, default=300,
        help="seconds of a prepaid call granted at a time to a switch "
        "that sends interim updates (default 300)")
    parser.add_argument('--reconcile', type=float, default=60.0,
        help="seconds between looks at each Kamailio's dialogs (dlg.list "
        "over JSON-RPC, the switch's JSON-RPC URL; default 60)")
    parser.add_argument('--reuse-port', action='store_true',
        help=argparse.SUPPRESS)
    parser.add_argument('--lag-probe', action='store_true',
        help="measure the event loop's lateness (a callback every 5 "
        "ms), explain its stalls and log them when stopped (benchmarks)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    rater = None
    if not args.no_rater:
        rater = RaterProcess([
                '-c', args.config, '-d', args.database,
                '--poll', str(args.rater_poll)])
    if args.workers > 1:
        return supervise(
            list(sys.argv[1:] if argv is None else argv), args.workers,
            rater)
    open_database(args.config, args.database)
    host, _, port = args.listen.rpartition(':')
    control = CallControl(
        args.database, make_store(args.database, args.store_uri),
        args.refresh, lag_probe=args.lag_probe, max_body=args.max_body,
        slice_seconds=args.slice, reconcile_interval=args.reconcile)
    if rater:
        rater.start(watch=True)
    try:
        web.run_app(
            make_app(control), host=host or '127.0.0.1', port=int(port),
            print=None, handle_signals=True, access_log=None,
            reuse_port=args.reuse_port or None, loop=new_event_loop())
    finally:
        if rater:
            rater.stop()
    return 0


def new_event_loop():
    """uvloop's event loop when installed (a dependency; its transports and
    scheduling cost a fraction of asyncio's per request), else asyncio's"""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _die_with_parent():
    "In a child: get SIGTERM when its parent dies, even by SIGKILL"
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class RaterProcess:
    """The rating worker (``rater.py``) as a child process: restarted when
    it dies — rating is not in the calls' path, so its failure must not
    stop call control (ended calls hold their reservation meanwhile)."""

    def __init__(self, argv, restart_delay=1.0):
        self.command = [sys.executable, '-m',
            'trytond.modules.telecom_switch.api.rater', *argv]
        self.restart_delay = restart_delay
        self.process = None
        self.stopping = threading.Event()

    def start(self, watch=False):
        self.process = subprocess.Popen(
            self.command, preexec_fn=_die_with_parent)
        if watch:
            # PR_SET_PDEATHSIG follows the thread that forked: this one
            # lives as long as the process.
            threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while True:
            code = self.process.wait()
            if self.stopping.wait(self.restart_delay):
                return
            logger.error("rating worker exited (%s): restarting it", code)
            self.process = subprocess.Popen(
                self.command, preexec_fn=_die_with_parent)

    def stop(self):
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def supervise(argv, workers, rater=None):
    """Run ``workers`` processes on one port (the kernel spreads the
    connections, SO_REUSEPORT) and the rating worker; stop them all on
    SIGTERM/SIGINT or when an API worker dies (the service manager
    restarts the whole); a dead rating worker is restarted alone."""
    command = [sys.executable, '-m',
        'trytond.modules.telecom_switch.api.server',
        *argv, '--workers', '1', '--reuse-port', '--no-rater']
    children = [subprocess.Popen(command, preexec_fn=_die_with_parent)
        for _ in range(workers)]
    if rater:
        rater.start(watch=True)
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    # Polled, not os.wait(): the rater's watcher waits for its own child.
    while any(child.poll() is None for child in children):
        if not stopping and any(
                child.returncode is not None for child in children):
            logger.error("an API worker exited: stopping the others")
            status = 1
            stop(None, None)
        time.sleep(0.2)
    if not stopping:
        status = 1
    if rater:
        rater.stop()
    return status


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
