"""A burst of simultaneous authorize requests against one call-control
API process, beside the latency of single requests in the same run.

A real ``telecom-callcontrol`` (one process) on a database of
``tests/e2e/callcontrol_fixture.py`` (PostgreSQL when it answers, else
SQLite). First ``--single`` authorizes one after another (a postpaid
customer without limit): their p50 / p99. Then ``--burst`` requests at the
same moment, each on its own connection (``tests/e2e/burst.py``), for the
customer with a limit of 5: how many were admitted (must be exactly 5)
and the p50 / p99 / max latency of the burst. Kamailio gives up on the
API after 1-2 s; the goal is a burst p99 <= 250 ms on 2 cores.

Usage: python bench/bench_burst.py [--burst 500] [--single 200]
       [--backend postgresql|sqlite]
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.e2e.burst import burst, percentile  # noqa: E402
from tests.e2e.test_callcontrol import Platform, pg_available  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--burst', type=int, default=500)
    parser.add_argument('--single', type=int, default=200)
    parser.add_argument('--backend', default=None)
    args = parser.parse_args()
    backend = args.backend or (
        'postgresql' if pg_available() else 'sqlite')
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        platform = Platform(backend, Path(tmp))
        print(f"{backend}: database and API ready in "
            f"{time.monotonic() - started:.0f} s", flush=True)
        try:
            key = platform.keys['owner_key']
            single = []
            for i in range(args.single):
                answer, = asyncio.run(burst(
                        '127.0.0.1', platform.port, key, '/v1/authorize',
                        [{'call_id': f'single-{i}', 'callee': '442079460000',
                            'sip_username': 'pp-user'}]))
                single.append(answer[2])
            answers = asyncio.run(burst(
                    '127.0.0.1', platform.port, key, '/v1/authorize',
                    [{'call_id': f'burst-{i}', 'callee': '442079460000',
                        'sip_username': 'crowd-user'}
                        for i in range(args.burst)]))
        finally:
            platform.stop()
    decisions = [json.loads(body)['decision'] if status == 200 else status
        for status, body, _ in answers]
    failed = len(decisions) - decisions.count('allow') - decisions.count(
        'deny')
    times = [elapsed for _, _, elapsed in answers]

    def ms(values, q):
        return percentile(values, q) * 1000
    print(f"single authorize ({args.single} one after another): "
        f"p50 {ms(single, 50):.2f} ms, p99 {ms(single, 99):.2f} ms")
    print(f"burst of {args.burst} at once: admitted "
        f"{decisions.count('allow')} (limit 5), refused "
        f"{decisions.count('deny')}, failed {failed}; "
        f"p50 {ms(times, 50):.1f} ms, p99 {ms(times, 99):.1f} ms, "
        f"max {max(times) * 1000:.1f} ms")
    return 0 if decisions.count('allow') == 5 else 1


if __name__ == '__main__':
    raise SystemExit(main())
