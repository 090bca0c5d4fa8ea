"""Benchmark of the rating engine alone (no database); prints its figures.

1. Compile time and resident memory of one plan of 100,000 and of
   1,000,000 prefixes, each measured in a fresh process: the synthetic
   ``Rate`` objects are generated first (timed apart), then
   ``compile_tariff`` alone is timed; RSS is taken once the input is freed
   (what a process holding the compiled plan keeps), peak includes it.
2. CDRs per second for synthetic CDRs on a 3-level chain: owner plan
   (prefixes × peak/off-peak bands) → reseller plan (inherits, markups per
   group, a few own rates) → customer plan (inherits, own rates, bundle),
   one process: a first ``rate_batch`` of all the CDRs on the freshly
   compiled tariff (its memos empty: the headline figure), then a second
   one (memos warm, as in a worker that keeps its tariff). Wall-clock and
   CPU time are both printed (the machine may be shared).

Usage: python bench/bench_rating_engine.py [--quick] [--profile]
"""
import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import random
import subprocess
import sys
import time
from decimal import Decimal

from trytond.modules.telecom_rating.engine import (
    Bundle, Call, Level, Markup, Rate, RatePlan, TimeBand, compile_tariff,
    rate_batch)

UTC = dt.timezone.utc
ZONE = 'Europe/Paris'
BANDS = (
    TimeBand('peak', frozenset(range(5)), 8 * 60, 19 * 60, ZONE),
    TimeBand('offpeak', frozenset(range(5)), 19 * 60, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({0}), 0, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({5, 6}), 0, 24 * 60, ZONE),
    )
GROUPS = 20


def prefixes(count, seed):
    "``count`` distinct prefixes of 3 to 9 digits, as real decks spread."
    generator = random.Random(seed)
    found = set()
    while len(found) < count:
        length = generator.choice((3, 4, 5, 5, 6, 6, 6, 7, 7, 8, 9))
        found.add(str(generator.randrange(10 ** (length - 1), 10 ** length)))
    return sorted(found)


def banded_rates(prefixes, seed):
    generator = random.Random(seed)
    for prefix in prefixes:
        price = generator.randrange(1000, 500000)
        for band, factor in (('peak', 1), ('offpeak', 2)):
            yield Rate(prefix, Decimal(price // factor).scaleb(-6),
                'Destination ' + prefix[:3], increment_first=30,
                increment_next=6, time_band=band)


def measure_compile(count):
    """Run in a fresh process: generate, then compile one plan.

    Print generation seconds, compile seconds, RSS once the input is
    freed and peak RSS (MB).
    """
    start = time.perf_counter()
    rates = [Rate(p, Decimal(int(p) % 9973).scaleb(-5), 'Destination')
        for p in prefixes(count, 1)]
    generated = time.perf_counter() - start
    start = time.perf_counter()
    tariff = compile_tariff([RatePlan('owner', 'EUR', rates)])
    elapsed = time.perf_counter() - start
    assert len(tariff.plans['owner'].index) == count
    del rates
    gc.collect()
    print(f"{generated:.2f} {elapsed:.2f} {_rss_mb():.0f} {_peak_mb():.0f}")


def _rss_mb():
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 2 ** 20


def _peak_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chain_tariff(count):
    owner_prefixes = prefixes(count, 2)
    generator = random.Random(3)
    groups = {f'g{i}': [] for i in range(GROUPS)}
    for prefix in owner_prefixes[::50]:
        groups[f'g{generator.randrange(GROUPS)}'].append(prefix)
    owner = RatePlan('owner', 'EUR', banded_rates(owner_prefixes, 4))
    reseller = RatePlan('reseller', 'USD',
        banded_rates(generator.sample(owner_prefixes, count // 100), 5),
        parent='owner', markups={
            **{f'g{i}': Markup(Decimal(i), Decimal('0.001'))
                for i in range(GROUPS)},
            None: Markup(Decimal('15'))})
    customer = RatePlan('customer', 'USD',
        banded_rates(generator.sample(owner_prefixes, count // 10), 6),
        parent='reseller', markups={None: Markup(Decimal('5'))},
        bundles=(Bundle('minutes', frozenset({'g1', 'g2', 'g3'})),))
    start = time.perf_counter()
    tariff = compile_tariff([owner, reseller, customer], BANDS, groups)
    return tariff, owner_prefixes, time.perf_counter() - start


def synthetic_calls(count, owner_prefixes, seed=7):
    generator = random.Random(seed)
    month = int(dt.datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    chains = [
        (Level('owner', f'r{i % 10}'), Level('reseller', f'c{i}'),
            Level('customer', f'c{i}'))
        for i in range(1000)]
    calls = []
    for i in range(count):
        prefix = generator.choice(owner_prefixes)
        callee = prefix + str(generator.randrange(10 ** 6, 10 ** 7))
        duration = 0 if i % 10 == 0 else int(generator.expovariate(1 / 150))
        calls.append(Call(i, generator.choice(chains), '33612345678', callee,
                month + generator.randrange(31 * 86400), duration))
    return calls


def convert(source, target, day):
    return Decimal('1.08')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="small sizes, for a smoke run")
    parser.add_argument('--profile', action='store_true',
        help="print where rating spends its time")
    parser.add_argument('--compile-only', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_only:
        measure_compile(args.compile_only)
        return
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    plan_size = 10_000 if args.quick else 100_000
    cdrs = 100_000 if args.quick else 1_000_000

    print(f"Python {sys.version.split()[0]}, one process, {os.cpu_count()} "
        "CPUs, load average {:.2f} {:.2f} {:.2f} (other work on the machine "
        "slows the figures; CPU time is less sensitive to it than "
        "wall-clock)".format(*os.getloadavg()))
    for size in sizes:
        output = subprocess.run(
            [sys.executable, __file__, '--compile-only', str(size)],
            check=True, capture_output=True, text=True).stdout.split()
        generated, seconds, rss, peak = output
        print(f"compile {size:>9,} prefixes: {seconds} s, RSS {rss} MB "
            f"(peak {peak} MB with the input; generating the rates: "
            f"{generated} s)")

    tariff, owner_prefixes, seconds = chain_tariff(plan_size)
    print(f"compile 3-level chain, {plan_size:,} prefixes × 2 bands: "
        f"{seconds:.2f} s")
    calls = synthetic_calls(cdrs, owner_prefixes)
    balances = {(f'c{i}', 'minutes'): 600 for i in range(1000)}
    for run in ('first batch, memos empty', 'second batch, memos warm'):
        result = None
        gc.collect()
        cpu, start = time.process_time(), time.perf_counter()
        result = rate_batch(tariff, calls, convert, balances)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        rated = sum(1 for c in result.calls if c.rated)
        print(f"rate {cdrs:,} CDRs × 3 levels ({run}): {elapsed:.2f} s, "
            f"{cdrs / elapsed:,.0f} CDRs/s (CPU {cpu:.2f} s, "
            f"{cdrs / cpu:,.0f} CDRs/s; {rated:,} rated, "
            f"{sum(result.bundle_used.values()):,} bundle seconds used)")
    if args.profile:
        profile_batch(chain_tariff(plan_size)[0], calls[:100_000], balances)


def profile_batch(tariff, calls, balances):
    """Profile a first batch; count the calls the slow path rates.

    The fast path is one function (``batch._rate``): its own time is the
    per-call work; ``_Rating.*`` is the general path some calls take.
    """
    from trytond.modules.telecom_rating.engine.rating import _Rating
    slow = 0
    rate = _Rating.rate

    def counted(self, call, start):
        nonlocal slow
        slow += 1
        return rate(self, call, start)

    _Rating.rate = counted
    try:
        profile = cProfile.Profile()
        profile.runcall(rate_batch, tariff, calls, convert, balances)
    finally:
        _Rating.rate = rate
    print(f"profile of {len(calls):,} CDRs, {slow:,} through the slow path "
        f"(bundle spent, band boundary crossed, …)")
    pstats.Stats(profile).sort_stats('tottime').print_stats(12)


if __name__ == '__main__':
    main()
