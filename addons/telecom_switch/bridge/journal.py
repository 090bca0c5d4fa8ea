"""The journal: every post to the API (answer, end, CDR) is written here
before it is sent, and leaves only once the API acknowledged it.

``journal.jsonl`` in the spool directory is append-only JSON lines, each
fsync'ed: ``{"seq": n, "path": "/v1/cdrs", "body": {...}}`` adds a post,
``{"ack": [n, ...]}`` retires posts.  Loading replays the lines, so after a
crash or restart the posts without an ack are sent again, in order.  A post
sent but not yet acknowledged when the bridge died is sent twice; the API is
idempotent on (switch, call id, leg), so it is stored once.

Posts the API refuses as bad (4xx) go to ``rejected.jsonl`` with the reason.
The journal is rewritten with only what is pending when nothing is pending
or when acknowledged lines dominate it.
"""
import json
import os
from collections import OrderedDict

from . import logs

_COMPACT_AFTER = 1000


class Journal:
    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.path = os.path.join(directory, 'journal.jsonl')
        self.rejected_path = os.path.join(directory, 'rejected.jsonl')
        self.pending = OrderedDict()
        self._next_seq = 1
        self._retired = 0
        self._torn = False
        self._load()
        self._file = open(self.path, 'a', encoding='utf-8')
        if self._retired or self._torn:
            # Rewritten before the first append: a line appended after a
            # torn one (no newline) would join it and be lost at the next
            # load.
            self._compact()

    def _load(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding='utf-8') as file:
            for number, line in enumerate(file, 1):
                try:
                    entry = json.loads(line)
                    if 'ack' in entry:
                        for seq in entry['ack']:
                            self.pending.pop(seq, None)
                            self._retired += 1
                    else:
                        self.pending[entry['seq']] = entry
                        self._next_seq = max(self._next_seq, entry['seq'] + 1)
                except (ValueError, KeyError, TypeError):
                    # a line torn by a crash mid-write: its post was never
                    # acknowledged to anyone, nothing else is lost
                    logs.warning('journal line unreadable', path=self.path,
                        line=number)
                    self._torn = True
                else:
                    self._torn = self._torn or not line.endswith('\n')
        if self.pending:
            logs.info('journal loaded', path=self.path,
                pending=len(self.pending))

    def _write(self, file, entries):
        file.write(''.join(
                json.dumps(e, separators=(',', ':')) + '\n'
                for e in entries))
        file.flush()
        os.fsync(file.fileno())

    def append(self, path, body):
        entry = {'seq': self._next_seq, 'path': path, 'body': body}
        self._next_seq += 1
        self._write(self._file, [entry])
        self.pending[entry['seq']] = entry
        return entry

    def ack(self, entries):
        seqs = [e['seq'] for e in entries if e['seq'] in self.pending]
        if not seqs:
            return
        self._write(self._file, [{'ack': seqs}])
        for seq in seqs:
            del self.pending[seq]
        self._retired += len(seqs)
        if not self.pending or self._retired >= _COMPACT_AFTER:
            self._compact()

    def reject(self, entry, reason):
        logs.error('API rejected a post; moved to rejected file',
            path=entry['path'], body=entry['body'], reason=reason,
            rejected_file=self.rejected_path)
        with open(self.rejected_path, 'a', encoding='utf-8') as file:
            self._write(file, [{'path': entry['path'], 'body': entry['body'],
                        'reason': reason}])
        self.ack([entry])

    def _compact(self):
        "Rewrite the journal with the pending posts only (atomic rename)."
        temporary = self.path + '.tmp'
        with open(temporary, 'w', encoding='utf-8') as file:
            self._write(file, list(self.pending.values()))
        os.replace(temporary, self.path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._file.close()
        self._file = open(self.path, 'a', encoding='utf-8')
        self._retired = 0

    def close(self):
        self._file.close()
