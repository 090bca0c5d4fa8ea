"""Run Python in a Tryton transaction of DATABASE and print ``result`` as
JSON; the code comes on stdin. Tests use it to look at (or change) a
database that a server process also uses, without sharing its process.

    python -m tests.e2e.tryton_exec CONFIG DATABASE < code.py

With ``--serve`` the process stays up and runs one piece of code per line
of stdin (a JSON string), answering each with a line of JSON:
``{"result": ...}`` or ``{"error": traceback}``. Starting Python and
loading the pool of the whole suite costs seconds of CPU, which a test
polling the database (wait until a CDR is rated) paid at every poll;
:class:`Session` keeps one process per database instead. Each piece still
runs in a transaction of its own, and Tryton's caches are synchronised at
each start (the tests set TRYTOND_CACHE__CLEAN_TIMEOUT=0), so a piece sees
what the servers committed just as a fresh process would.
"""
import json
import select
import subprocess
import sys
import tempfile
import traceback


def _runner(config, database):
    "A function running a piece of code and returning its ``result``"
    from trytond import config as tryton_config
    tryton_config.update_etc(config)
    from trytond.modules.telecom_base.locking import run_committed
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool(database).init()

    def run(code):
        def work(pool):
            # A fresh scope each try: a retried run sees nothing of the
            # last
            scope = {'pool': pool, 'Transaction': Transaction}
            exec(code, scope)
            return scope.get('result')
        return run_committed(database, work)
    return run


def main():
    serving = '--serve' in sys.argv
    config, database = [a for a in sys.argv[1:] if a != '--serve'][:2]
    if not serving:
        run = _runner(config, database)
        print(json.dumps(run(sys.stdin.read()), default=str))
        return
    # Answers go to the real stdout only: what the code prints goes to
    # stderr, where it cannot be taken for an answer.
    answers, sys.stdout = sys.stdout, sys.stderr
    run = _runner(config, database)
    for line in sys.stdin:
        try:
            answer = {'result': run(json.loads(line))}
        except Exception:
            answer = {'error': traceback.format_exc()}
        answers.write(json.dumps(answer, default=str) + '\n')
        answers.flush()


class Session:
    """A ``--serve`` process of ``database``, started at the first
    :meth:`run`; :meth:`close` stops it (before the database is dropped)"""

    def __init__(self, config, database, env, cwd):
        self.command = [sys.executable, '-m', 'tests.e2e.tryton_exec',
            '--serve', config, database]
        self.env = env
        self.cwd = cwd
        self.process = None

    def run(self, code, timeout=300):
        "The ``result`` of ``code``; fails with its traceback"
        if self.process is None or self.process.poll() is not None:
            self.stderr = tempfile.TemporaryFile('w+')
            self.process = subprocess.Popen(self.command, env=self.env,
                cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self.stderr, text=True)
        self.process.stdin.write(json.dumps(code) + '\n')
        self.process.stdin.flush()
        # One answer a line, read whole: nothing is left in the buffer.
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ''
        if not line:
            self.close()
            self.stderr.seek(0)
            raise AssertionError(f"tryton_exec gave no answer in {timeout} s"
                f" or exited: {self.stderr.read()[-3000:]}")
        answer = json.loads(line)
        assert 'error' not in answer, answer.get('error', '')[-3000:]
        return answer['result']

    def close(self):
        if self.process is None:
            return
        self.process.stdin.close()
        self.stderr.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process = None


if __name__ == '__main__':
    main()
