"""The progress bar of the ``telecom`` sub-commands.

Drawn on a stream (stderr) only when it is a terminal, so redirected output
and logs stay clean; no trytond import, so commands without a database
(``telecom simulate``) can use it.
"""
import sys


class Progress:
    "A progress bar of ``total`` ``unit`` on ``stream``"

    def __init__(self, total, stream=None, unit='', width=40):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.unit, self.width = total, unit, width
        self.shown = bool(total) and total > 0 and self.stream.isatty()

    def update(self, done, total=None):
        "Show ``done`` of ``total`` (given when it is learnt late)"
        if total is not None:
            self.total = total
            self.shown = total > 0 and self.stream.isatty()
        if self.shown:
            done = min(done, self.total)
            filled = self.width * done // self.total
            bar = '#' * filled + '.' * (self.width - filled)
            unit = f" {self.unit}" if self.unit else ''
            self.stream.write(f"\r[{bar}] {done}/{self.total}{unit}")
            self.stream.flush()

    def close(self):
        if self.shown:
            self.stream.write('\n')
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
