"""What the bridge knows of a call, and the CDR it makes of it."""
import datetime as dt
import math
import re
from dataclasses import dataclass

_ARI_TIME = re.compile(
    r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)'
    r'(Z|[+-]\d\d:?\d\d)?$')

# Q.850 causes that end an unanswered call as nobody picking up; the
# caller giving up (16) counts as no answer, as in Asterisk's CDR module.
_NO_ANSWER_CAUSES = {0, 16, 18, 19, 20, 31}
_BUSY_CAUSES = {17}


def parse_ari_time(text):
    """Parse an ARI timestamp (``2026-03-25T07:18:27.423+0300``, no colon
    in the offset) or any ISO 8601 one into an aware datetime."""
    match = _ARI_TIME.match(text.strip())
    if not match:
        raise ValueError('not an ARI timestamp: %r' % text)
    stamp, offset = match.groups()
    if offset in (None, 'Z'):
        offset = '+00:00'
    elif ':' not in offset:
        offset = offset[:3] + ':' + offset[3:]
    return dt.datetime.fromisoformat(stamp + offset)


def iso(value):
    return value.isoformat(timespec='milliseconds') if value else None


def now():
    return dt.datetime.now(dt.timezone.utc)


def digits(text):
    return re.sub(r'\D', '', text or '')


def disposition(answered, cause):
    if answered:
        return 'ANSWERED'
    if cause in _BUSY_CAUSES:
        return 'BUSY'
    if cause in _NO_ANSWER_CAUSES:
        return 'NO ANSWER'
    return 'FAILED'


def billable_seconds(answer, end):
    """Whole seconds from answer to end, truncated as Asterisk's billsec is;
    the CDR carries both instants to the millisecond for finer rating."""
    if answer is None or end is None or end <= answer:
        return 0
    return math.floor((end - answer).total_seconds())


@dataclass
class Call:
    "The a-leg of one call, keyed by its Asterisk channel id."
    channel_id: str
    direction: str
    caller: str
    callee: str
    start: dt.datetime
    answer: dt.datetime = None
    account: str = None
    # the API allowed the call: it holds a slot to release with ``end``
    authorized: bool = False
    hangup_cause: int = None
    finished: bool = False
    # the task asking Asterisk when the call was answered (after a
    # reconnection), which its end waits for, and when the channel list
    # showed it Up (the answer time if Asterisk's never comes)
    learning: object = None
    seen_up: dt.datetime = None
    service: str = 'voice'
    # when the dialplan was sent to dial the carriers, and the post-dial
    # delay: from then to the first ringing, progress or answer
    dialled: dt.datetime = None
    pdd_ms: int = None
    # Slices (the API's ``interim_updates``): seconds from the answer the
    # API granted so far, None when Dial's L() limits the call (or nothing
    # does); ``final`` when no more will come; the task keeping the call
    # within them
    granted: int = None
    final: bool = False
    slicer: object = None

    def progressed(self, when):
        if self.dialled is not None and self.pdd_ms is None:
            self.pdd_ms = max(0, round(
                    (when - self.dialled).total_seconds() * 1000))

    def cdr(self, end, cause):
        return {
            'call_id': self.channel_id,
            'leg': 'a',
            'direction': self.direction,
            'caller': self.caller,
            'callee': self.callee,
            'start': iso(self.start),
            'answer': iso(self.answer),
            'end': iso(end),
            'billable_seconds': billable_seconds(self.answer, end),
            'disposition': disposition(self.answer is not None, cause),
            'hangup_cause': cause,
            'account': self.account,
            'service': self.service,
            'pdd_ms': self.pdd_ms,
            }
