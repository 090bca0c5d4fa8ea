"""Delivery of journaled posts to the API, one at a time and in order.

Consecutive CDRs are sent together as ``{"cdrs": [...]}`` (a backlog after
an outage drains in a few requests).  A 5xx or a connection error keeps the
post in the journal and retries after a doubling, jittered, capped delay.
"""
import asyncio
import random

from . import logs
from .api import ApiRejected, ApiUnavailable

CDRS = '/v1/cdrs'


class Outbox:
    def __init__(self, journal, client, retry_initial=1.0, retry_max=60.0,
            batch_size=100):
        self.journal = journal
        self.client = client
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        # after a refused batch, CDRs go one by one to find the bad one
        self._singles = 0

    def submit(self, path, body):
        self.journal.append(path, body)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self):
        return len(self.journal.pending)

    async def drain(self, timeout):
        "Wait until every post is acknowledged; False on timeout."
        if not self.journal.pending:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _next_batch(self):
        entries = list(self.journal.pending.values())
        first = entries[0]
        if first['path'] != CDRS or self._singles:
            return [first]
        batch = []
        for entry in entries[:self.batch_size]:
            if entry['path'] != CDRS:
                break
            batch.append(entry)
        return batch

    async def run(self):
        delay = self.retry_initial
        while True:
            if not self.journal.pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._next_batch()
            try:
                await self._send(batch)
            except ApiUnavailable as exception:
                logs.warning('API unavailable; posts kept in journal',
                    reason=str(exception), pending=self.pending,
                    retry_in=round(delay, 3))
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial

    async def _send(self, batch):
        first = batch[0]
        if first['path'] != CDRS:
            try:
                await self.client.post(first['path'], first['body'])
            except ApiRejected as exception:
                logs.warning('API refused a call event; dropped',
                    path=first['path'], status=exception.status,
                    body=exception.body)
            self.journal.ack(batch)
            return
        body = (batch[0]['body'] if len(batch) == 1
            else {'cdrs': [e['body'] for e in batch]})
        try:
            answer = await self.client.post(CDRS, body)
        except ApiRejected as exception:
            if len(batch) > 1:
                self._singles = len(batch)
                return
            self.journal.reject(first, 'HTTP %s: %s' % (
                    exception.status, exception.body))
            self._singles = max(self._singles - 1, 0)
            return
        self._singles = max(self._singles - len(batch), 0)
        rejected = {}
        for item in (answer or {}).get('rejected') or []:
            if isinstance(item, dict) and isinstance(item.get('index'), int):
                rejected[item['index']] = item.get('reason', '')
        for index, reason in rejected.items():
            if 0 <= index < len(batch):
                self.journal.reject(batch[index], reason)
        self.journal.ack(batch)
        logs.info('CDRs posted', count=len(batch),
            accepted=(answer or {}).get('accepted'),
            duplicates=(answer or {}).get('duplicates'),
            rejected=len(rejected))
