"""Benchmark of the least-cost routing engine alone (no database).

Builds 20 carriers × 100,000 prefixes (15 in EUR, 5 in USD; every deck
holds the ~200 country codes plus prefixes drawn from a common pool of
130,000 destinations, prices correlated by destination) and a customer
plan of 100,000 prefixes compiled by the rating engine (its prices are
the sell prices given to the loss guard). Prints the compile time of all
decks, the resident memory, and the latency of one ``route_call`` per
policy, measured call by call with ``time.perf_counter_ns`` over random
called numbers.

The sell price (the customer plan's price of a minute at the call's
instant, peak or off-peak) is worked out inside the timed region, as call
control does before routing; the same decision with the price given and
a minimal dict baseline are measured in the same run.

Usage: python bench/bench_lcr_engine.py [--quick] [--calls N]
       [--bands none|some|all] [--repeats N] [--profile]
"""
import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import random
import resource
import statistics
import sys
import time
from decimal import Decimal

from trytond.modules.telecom_lcr.engine import (
    Carrier, CarrierDeck, CarrierUsage, Gateway, PlanRouting, QualityStats,
    RoutingPolicy, RoutingRule, compile_routing, route_call)
from trytond.modules.telecom_rating.engine import (
    Call, Level, Rate, RatePlan, TimeBand, compile_tariff, rate_call)

UTC = dt.timezone.utc
NANO = 10 ** 9
CARRIERS = 20
USD_CARRIERS = 5
ZONE = 'Europe/Paris'
BANDS = (
    TimeBand('peak', frozenset(range(5)), 8 * 60, 19 * 60, ZONE),
    TimeBand('offpeak', frozenset(range(5)), 19 * 60, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({0}), 0, 8 * 60, ZONE),
    TimeBand('offpeak', frozenset({5, 6}), 0, 24 * 60, ZONE),
    )


def destinations(count, seed=1):
    "Country codes (prefix-free) and a pool of longer prefixes under them."
    generator = random.Random(seed)
    codes = ['1', '7'] + generator.sample(
        [str(n) for n in range(200, 1000) if str(n)[0] not in '17'], 198)
    pool = set()
    while len(pool) < count:
        code = generator.choice(codes)
        digits = generator.choice((1, 2, 3, 3, 4, 4, 5, 6))
        pool.add(code + str(generator.randrange(10 ** digits)).zfill(digits))
    return codes, sorted(pool)


def base_price(prefix):
    "A price per minute in nano-units shared by every deck for a prefix."
    return 2_000_000 + (int(prefix) * 7919) % 300_000_000


def carrier_rates(position, codes, pool, size, banded):
    """The deck of carrier ``position``; ``banded``: True (every rate
    peak/off-peak), False or 'some' (one carrier in four)."""
    if banded == 'some':
        banded = position % 4 == 1
    generator = random.Random(100 + position)
    factor = generator.uniform(0.8, 1.3)
    if position >= CARRIERS - USD_CARRIERS:
        factor *= 1.08  # USD
    chosen = codes + generator.sample(pool, size - len(codes))
    for prefix in chosen:
        price = int(base_price(prefix) * factor * generator.uniform(0.9, 1.1))
        if banded:
            yield Rate(prefix, Decimal(price).scaleb(-9), time_band='peak')
            yield Rate(prefix, Decimal(price // 2).scaleb(-9),
                time_band='offpeak')
        else:
            yield Rate(prefix, Decimal(price).scaleb(-9))


def carriers():
    found = []
    for position in range(CARRIERS):
        values = {}
        if position % 7 == 3:
            values['max_calls'] = 100
        if position == 11:
            values['allowed_plans'] = frozenset({'premium'})
        found.append(Carrier(f'c{position:02}', f'Carrier {position}',
                'USD' if position >= CARRIERS - USD_CARRIERS else 'EUR',
                (Gateway(f'gw{position}.example.net:5060'),
                    Gateway(f'gw{position}b.example.net:5060')),
                tech_prefix=f'{position:02}#' if position % 2 else '',
                strip_digits=0, add_prefix='00' if position % 3 else '',
                **values))
    return found


def policies(codes):
    ids = [f'c{p:02}' for p in range(CARRIERS)]
    rules = tuple(
        RoutingRule(callee_prefix=code, strategy='priority',
            carriers=tuple(ids[i % CARRIERS] for i in range(n, n + 4)))
        for n, code in enumerate(codes[:40]))
    rules += (RoutingRule(callee_prefix='1', caller_prefix='33',
            max_routes=3),)
    return [
        RoutingPolicy('lcr', 'standard', max_routes=5, loss_guard=True,
            rules=rules),
        RoutingPolicy('lcr-all', 'all-routes'),
        RoutingPolicy('priority', 'priority', strategy='priority',
            carriers=tuple(ids), max_routes=5),
        RoutingPolicy('weighted', 'weighted', strategy='weighted',
            weights={c: 1 + i % 4 for i, c in enumerate(ids)},
            max_routes=5),
        RoutingPolicy('quality', 'quality', strategy='quality',
            max_routes=5, min_asr=Decimal(30), min_samples=50),
        RoutingPolicy('margin', 'ivr', loss_guard=True, max_routes=5,
            min_margin=Decimal('0.002'), min_margin_percent=Decimal(10),
            max_cost=Decimal('0.2')),
        ]


def convert(source, target, date):
    return Decimal('0.92') if (source, target) == ('USD', 'EUR') else None


def rss_mb():
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * 4096 / 2 ** 20


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(size, pool_size, banded):
    codes, pool = destinations(pool_size)
    start = time.perf_counter()
    for position in range(CARRIERS):
        for _ in carrier_rates(position, codes, pool, size, banded):
            pass
    generation = time.perf_counter() - start
    plan_names = ('standard', 'all-routes', 'priority', 'weighted',
        'quality', 'ivr', 'premium')
    start = time.perf_counter()
    index = compile_routing(
        carriers(),
        [CarrierDeck(f'c{p:02}', carrier_rates(p, codes, pool, size, banded))
            for p in range(CARRIERS)],
        [PlanRouting(p, 'EUR', parent=None if p != 'premium' else
                'standard') for p in plan_names],
        policies(codes), time_bands=BANDS if banded else (),
        groups={'nanp': ['1'], 'russia': ['7']}, convert=convert,
        order_date=dt.date(2026, 3, 2))
    compile_seconds = time.perf_counter() - start
    return index, codes, pool, generation, compile_seconds


def customer_tariff(codes, pool, size, banded=False):
    "The customer plan: one price, or peak/off-peak with ``banded``"
    generator = random.Random(5)
    chosen = codes + generator.sample(pool, size - len(codes))

    def rates():
        for p in chosen:
            price = base_price(p) * 3 // 2
            if banded:
                yield Rate(p, Decimal(price).scaleb(-9), time_band='peak')
                yield Rate(p, Decimal(price * 3 // 5).scaleb(-9),
                    time_band='offpeak')
            else:
                yield Rate(p, Decimal(price).scaleb(-9))
    start = time.perf_counter()
    tariff = compile_tariff([RatePlan('customer', 'EUR', rates())],
        BANDS if banded else ())
    return tariff, time.perf_counter() - start


def workload(count, codes, pool, tariff, seed=7):
    "Random calls with their sell price per minute from the customer plan."
    generator = random.Random(seed)
    month = int(dt.datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    calls = []
    for i in range(count):
        prefix = generator.choice(pool)
        callee = prefix + str(generator.randrange(10 ** 7)).zfill(
            max(1, 12 - len(prefix)))[:max(1, 12 - len(prefix))]
        caller = generator.choice(('336', '331', '4420', '1212')) + '5550100'
        at = month + generator.randrange(7 * 86400)
        rated = rate_call(tariff, Call(i, (Level('customer'),), caller,
                callee, at, 60))
        sell = rated.levels[0].cost if rated.rated else None
        calls.append((i, caller, callee, at, sell))
    return calls


def measure(index, plan, calls, tariff=None, **values):
    """Per-call latency in µs (median, p99, max) and routes per call.

    With ``tariff``, the sell price (the customer plan's price of a minute
    at the call's instant) is worked out inside the timed region, as call
    control does before routing; else the one of the workload is given.
    """
    timer = time.perf_counter_ns
    latencies = []
    routes = 0
    chain = (Level('customer'),)
    for call_id, caller, callee, at, sell in calls:
        begin = timer()
        if tariff is not None:
            rated = rate_call(tariff, Call(
                    call_id, chain, caller, callee, at, 60))
            sell = rated.levels[0].cost if rated.rated else None
        decision = route_call(index, plan, 'voice', caller, callee, at,
            sell_price=sell, call_id=call_id, **values)
        latencies.append(timer() - begin)
        routes += len(decision.routes)
    latencies.sort()
    return (statistics.median(latencies) / 1000,
        latencies[len(latencies) * 99 // 100] / 1000,
        latencies[-1] / 1000, routes / len(calls))


def dict_baseline(index, calls):
    """The floor of a routing decision, per call in µs (median, p99):
    longest prefix in a dict of prefix → carriers' integer costs already
    sorted, the five cheapest under the sell price kept as tuples."""
    entries = index.services['voice'].entries
    generator = random.Random(11)
    table = {prefix: sorted((generator.randrange(10 ** 9), f'c{c:02}')
            for c in range(generator.randrange(3, CARRIERS)))
        for prefix in entries}
    lengths = sorted({len(p) for p in table}, reverse=True)
    timer = time.perf_counter_ns
    latencies = []
    for call_id, caller, callee, at, sell in calls:
        begin = timer()
        for length in lengths:
            costs = table.get(callee[:length])
            if costs is not None:
                break
        else:
            costs = ()
        ceiling = 10 ** 9 if sell is None else int(sell * NANO)
        routes = []
        for cost, carrier in costs:
            if cost <= ceiling:
                routes.append((carrier, callee, cost))
                if len(routes) == 5:
                    break
        latencies.append(timer() - begin)
    latencies.sort()
    return (statistics.median(latencies) / 1000,
        latencies[len(latencies) * 99 // 100] / 1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="10,000 prefixes per deck and 20,000 calls, for a smoke run")
    parser.add_argument('--calls', type=int, help="calls per policy")
    parser.add_argument('--bands', choices=('none', 'some', 'all'),
        default='some', help="carriers whose rates have a peak and an "
        "off-peak price: none, one in four (default; the customer plan is "
        "banded too) or all")
    parser.add_argument('--profile', action='store_true',
        help="print where route_call spends its time")
    parser.add_argument('--repeats', type=int, default=3,
        help="runs of each measure; the best is kept (default 3)")
    args = parser.parse_args()
    size = 10_000 if args.quick else 100_000
    pool_size = 13_000 if args.quick else 130_000
    count = args.calls or (20_000 if args.quick else 200_000)

    banded = {'none': False, 'some': 'some', 'all': True}[args.bands]
    print(f"Python {sys.version.split()[0]}, one process; {CARRIERS} "
        f"carriers × {size:,} prefixes, banded: {args.bands}; load average "
        "{:.2f} (the machine is shared: compare each figure with the "
        "baseline measured beside it)".format(os.getloadavg()[0]))
    index, codes, pool, generation, compile_seconds = build(
        size, pool_size, banded)
    # A service process freezes its snapshot once loaded: the collector
    # then never walks the millions of compiled objects again.
    gc.collect()
    gc.freeze()
    merged = len(index.services['voice'].entries)
    print(f"compile all decks: {compile_seconds:.2f} s (of which generating "
        f"the rates ≈ {generation:.2f} s), {merged:,} merged prefixes, "
        f"RSS {rss_mb():.0f} MB")
    tariff, plan_seconds = customer_tariff(
        codes, pool, size, banded=bool(banded))
    print(f"compile customer plan of {size:,} prefixes: {plan_seconds:.2f} s,"
        f" RSS {rss_mb():.0f} MB (peak {peak_mb():.0f} MB)")
    calls = workload(count, codes, pool, tariff)
    gc.collect()
    gc.freeze()
    usage = {f'c{p:02}': CarrierUsage(100 if p == 3 else 20)
        for p in range(CARRIERS)}
    generator = random.Random(9)
    stats = {(f'c{p:02}', None): QualityStats(
            Decimal(generator.randrange(20, 70)), Decimal(120), Decimal(3),
            generator.choice((10, 500))) for p in range(CARRIERS)}
    runs = [
        ("least cost, 5 routes, loss guard, rules", 'standard',
            {'usage': usage}),
        ("least cost, all routes", 'all-routes', {}),
        ("priority, 5 routes", 'priority', {}),
        ("weighted, 5 routes", 'weighted', {}),
        ("quality, 5 routes, ASR threshold", 'quality', {'stats': stats}),
        ("margin + max cost (F25), 5 routes", 'ivr', {}),
        ]
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        measure(index, 'standard', calls[:50_000], tariff, usage=usage)
        profile.disable()
        pstats.Stats(profile).sort_stats('tottime').print_stats(12)
    print(f"route_call over {count:,} random callees, the sell price "
        f"worked out inside the timed region (µs per call, best of "
        f"{args.repeats}):")
    print(f"{'policy':<42} {'median':>7} {'p99':>7} {'max':>8} "
        f"{'routes':>6}")
    for label, plan, values in runs:
        median, p99, worst, routes = min(
            measure(index, plan, calls, tariff, **values)
            for _ in range(args.repeats))
        print(f"{label:<42} {median:7.1f} {p99:7.1f} {worst:8.0f} "
            f"{routes:6.2f}")
    label, plan, values = runs[0]
    median, p99, worst, routes = min(
        measure(index, plan, calls, **values) for _ in range(args.repeats))
    print(f"{'the same, sell price given (untimed)':<42} {median:7.1f} "
        f"{p99:7.1f} {worst:8.0f} {routes:6.2f}")
    median, p99 = min(
        dict_baseline(index, calls) for _ in range(args.repeats))
    print(f"{'baseline: dict prefix → sorted costs, 5':<42} {median:7.1f} "
        f"{p99:7.1f}")
    print(f"RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")


if __name__ == '__main__':
    main()
