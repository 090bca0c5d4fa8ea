"""Benchmark of the rating engine alone (no database); prints its figures.

Every figure is printed beside a baseline measured in the same run, in
CPU seconds of this process (the host may be shared).

1. The headline: a realistic mix — 25 plans (the owner's deck with mixed
   increments, dated rates and its bands; 4 resellers with their own
   bands; 5 retail plans each, one a full retail deck billed 60/60), 20
   chains × 1,000 accounts — rated in one ``rate_batch`` on a freshly
   compiled tariff, beside a minimal dict-prefix, integer-cost baseline
   on the same CDRs; best of ``--repeats``.
2. Compile time (CPU) and resident memory of one plan of 100,000 and of
   1,000,000 prefixes, flat or with two bands and real destination names,
   each in a fresh process; RSS is taken once the input is freed.
3. ``--easy``: the former chain (30/6 at every level, no dates, shared
   bands): a first and a second batch, and the baseline.

Usage: python bench/bench_rating_engine.py [--quick] [--repeats N]
       [--cdrs N] [--no-compile] [--easy] [--profile]
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


def measure_compile(count, banded):
    """Run in a fresh process: generate, then compile one plan.

    ``banded``: a peak and an off-peak rate per prefix and real destination
    names (country and network, priced per destination as decks are),
    streamed into ``compile_tariff`` as the database layer streams a deck
    (compile time = streaming compile − a pass of the generator alone);
    else one rate named 'Destination', from a list built first.
    Print generation and compile CPU seconds, RSS once the input is
    freed and peak RSS (MB).
    """
    names = prefixes(count, 1)

    def banded_rates():
        for p in names:
            # As in real decks, a destination has one price.
            price, name = int(p[:4]) % 9973 + 1, destination(p)
            yield Rate(p, Decimal(price).scaleb(-5), name,
                increment_first=60, increment_next=60,
                time_band='owner:peak')
            yield Rate(p, Decimal(price // 2).scaleb(-5), name,
                increment_first=60, increment_next=60,
                time_band='owner:offpeak')
    start = time.process_time()
    if banded:
        for _ in banded_rates():
            pass
        rates = banded_rates()
        bands = tenant_bands('owner')
    else:
        rates = [Rate(p, Decimal(int(p) % 9973).scaleb(-5), 'Destination')
            for p in names]
        bands = ()
    generated = time.process_time() - start
    start = time.process_time()
    tariff = compile_tariff([RatePlan('owner', 'EUR', rates)], bands)
    elapsed = time.process_time() - start
    if banded:
        elapsed -= generated
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


# --- the realistic mix ----------------------------------------------------

RESELLERS = 4
CUSTOMER_PLANS = 5  # per reseller
ACCOUNTS = 1000  # per chain
# Each tenant's own peak/off-peak bands: the reseller r0 copies the owner's
# windows under its own names, the others differ in windows or time zone.
TENANT_ZONES = {
    'owner': ('Europe/London', 8, 19), 'r0': ('Europe/London', 8, 19),
    'r1': ('Europe/Paris', 8, 20), 'r2': ('Europe/Berlin', 7, 19),
    'r3': ('America/New_York', 9, 18)}
# Billing increments of a deck's rows: retail 60/60, wholesale 30/6 and
# per-second 1/1 mixed, as operators' decks are.
INCREMENTS = ((60, 60), (60, 60), (30, 6), (30, 6), (1, 1))
COUNTRIES = ('United Kingdom', 'France', 'Germany', 'Spain', 'Italy',
    'United States', 'Brazil', 'India', 'Nigeria', 'Philippines')
KINDS = ('Fixed', 'Mobile', 'Mobile Vodafone', 'Mobile Orange', 'Premium')
MARCH = dt.datetime(2026, 3, 1, tzinfo=UTC)
# Dated rates: the current price since January, a new one from 20 March.
CURRENT = dt.datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = dt.datetime(2026, 3, 20, tzinfo=UTC)


def tenant_bands(tenant):
    zone, morning, evening = TENANT_ZONES[tenant]
    peak, offpeak = f'{tenant}:peak', f'{tenant}:offpeak'
    return (
        TimeBand(peak, frozenset(range(5)), morning * 60, evening * 60, zone),
        TimeBand(offpeak, frozenset(range(5)), evening * 60, morning * 60,
            zone),
        TimeBand(offpeak, frozenset({0}), 0, morning * 60, zone),
        TimeBand(offpeak, frozenset({5, 6}), 0, 24 * 60, zone))


def destination(prefix):
    "A destination name shared by the prefixes of one 4-digit block"
    return (f"{COUNTRIES[int(prefix[:2]) % len(COUNTRIES)]} "
        f"{KINDS[int(prefix[2:4] or 0) % len(KINDS)]} {prefix[:4]}")


def deck(tenant, chosen, seed, dated=0.2, banded=1.0, markup=1,
        increments=INCREMENTS):
    """Rates of ``chosen`` prefixes in ``tenant``'s bands: mixed
    ``increments``, a part with a minimum and connect fee, a share
    ``dated`` with a current and a future price, a share ``banded``
    peak/off-peak (the rest one price at all times)."""
    generator = random.Random(seed)
    for prefix in chosen:
        first, next_ = generator.choice(increments)
        price = generator.randrange(1000, 500000) * markup
        fee = Decimal(generator.choice((0, 0, 0, 100, 250))).scaleb(-4)
        minimum = generator.choice((0, 0, 0, 30))
        name = destination(prefix)
        dates = [(None, None)]
        if generator.random() < dated:
            dates = [(CURRENT, CHANGE), (CHANGE, None)]
        for n, (since, until) in enumerate(dates):
            value = price + n * 700
            bands = ((f'{tenant}:peak', 1), (f'{tenant}:offpeak', 2))
            if generator.random() >= banded:
                bands = ((None, 1),)
            for band, factor in bands:
                yield Rate(prefix, Decimal(value // factor).scaleb(-6), name,
                    connect_fee=fee, min_duration=minimum,
                    increment_first=first, increment_next=next_,
                    valid_from=since, valid_to=until, time_band=band)


def realistic_plans(count):
    """25 plans: the owner's deck of ``count`` prefixes; 4 reseller plans
    (2 in USD) inheriting it with markups per group and 1 % own prefixes in
    their own bands; 5 retail plans per reseller, one a full retail deck
    (every prefix, 60/60, one price), the others inheriting with a markup
    and 2 % own prefixes (mixed increments, half banded)."""
    owner_prefixes = prefixes(count, 2)
    generator = random.Random(3)
    groups = {f'g{i}': [] for i in range(GROUPS)}
    for prefix in owner_prefixes[::50]:
        groups[f'g{generator.randrange(GROUPS)}'].append(prefix)
    plans = [RatePlan('owner', 'EUR', deck('owner', owner_prefixes, 4))]
    bands = list(tenant_bands('owner'))
    for r in range(RESELLERS):
        reseller, currency = f'r{r}', 'USD' if r % 2 else 'EUR'
        bands += tenant_bands(reseller)
        plans.append(RatePlan(reseller, currency, deck(
                    reseller, generator.sample(owner_prefixes, count // 100),
                    10 + r),
                parent='owner', markups={
                    **{f'g{i}': Markup(Decimal(i + r), Decimal('0.001'))
                        for i in range(GROUPS)},
                    None: Markup(Decimal(15 + r))}))
        for c in range(CUSTOMER_PLANS):
            bundles = ()
            if c == 0:
                bundles = (Bundle('minutes', frozenset({'g1', 'g2', 'g3'})),)
            if c == 1:
                # A retail deck of every destination, billed 60/60.
                rates = deck(reseller, owner_prefixes, 100 + 10 * r + c,
                    dated=0.1, banded=0, markup=2, increments=((60, 60),))
            else:
                rates = deck(reseller, generator.sample(
                        owner_prefixes, count // 50), 100 + 10 * r + c,
                    dated=0.1, banded=0.5, markup=2)
            plans.append(RatePlan(f'{reseller}c{c}', currency, rates,
                    parent=reseller, decimals=4 if c % 2 else 2,
                    rounding=('half-up', 'up', 'down')[c % 3],
                    markups={None: Markup(Decimal(5 + c))},
                    bundles=bundles))
    return plans, bands, groups, owner_prefixes


def realistic_tariff(count):
    plans, bands, groups, owner_prefixes = realistic_plans(count)
    start = time.process_time()
    tariff = compile_tariff(plans, bands, groups)
    return tariff, owner_prefixes, time.process_time() - start


def realistic_calls(count, owner_prefixes, seed=7):
    """``count`` CDRs over March 2026 (DST inside, 12 days after the
    price change) on 20 chains × 1,000 accounts, 10 % zero-second."""
    generator = random.Random(seed)
    month = int(MARCH.timestamp())
    chains = [
        (Level('owner', f'r{r}'), Level(f'r{r}', f'r{r}c{c}a{a}'),
            Level(f'r{r}c{c}', f'r{r}c{c}a{a}'))
        for r in range(RESELLERS) for c in range(CUSTOMER_PLANS)
        for a in range(ACCOUNTS)]
    calls = []
    for i in range(count):
        prefix = generator.choice(owner_prefixes)
        callee = prefix + str(generator.randrange(10 ** 6, 10 ** 7))
        duration = 0 if i % 10 == 0 else int(generator.expovariate(1 / 150))
        calls.append(Call(i, generator.choice(chains), '33612345678', callee,
                month + generator.randrange(31 * 86400), duration))
    return calls


def dict_baseline(owner_prefixes, calls):
    """The floor any rating costs: a dict prefix → (destination, integer
    price per minute, increments), longest prefix first, the charged
    seconds, then per level of the call's 3-level chain an integer cost
    and a tuple. Return (results, CPU seconds)."""
    generator = random.Random(1)
    prices = {p: (destination(p), generator.randrange(10 ** 6, 10 ** 9),
            *generator.choice(INCREMENTS)) for p in owner_prefixes}
    lengths = sorted({len(p) for p in prices}, reverse=True)
    start = time.process_time()
    results = []
    append = results.append
    for call in calls:
        number = call.callee
        for length in lengths:
            found = prices.get(number[:length])
            if found is not None:
                break
        else:
            append((call.call_id, None))
            continue
        prefix = number[:length]
        name, price, first, next_ = found
        billed = call.duration
        charged = (first if billed <= first
            else first - (first - billed) // next_ * next_)
        cost = price * charged
        owner, reseller, customer = call.chain
        append((call.call_id, (
                    (owner.plan, prefix, name, charged, cost // 60),
                    (reseller.plan, prefix, name, charged,
                        cost * 108 // 6000),
                    (customer.plan, prefix, name, charged,
                        cost * 113 // 6000))))
    return results, time.process_time() - start


def measure_realistic(size, cdrs, repeats):
    """Best of ``repeats``: compile the 25 plans afresh, rate the CDRs in
    one batch (memos empty), then the dict baseline on the same CDRs;
    both in CPU seconds of this process."""
    print(f"realistic mix: 25 plans (owner {size:,} prefixes, 20 % dated, "
        "increments 60/60, 30/6, 1/1 mixed, each tenant its own bands), "
        f"20 chains × {ACCOUNTS:,} accounts, {cdrs:,} CDRs × 3 levels; "
        f"CDRs per CPU second, best of {repeats}")
    best_rate = best_base = compile_best = None
    for repeat in range(repeats):
        tariff, owner_prefixes, compiled = realistic_tariff(size)
        calls = realistic_calls(cdrs, owner_prefixes)
        balances = {(f'r{r}c0a{a}', 'minutes'): 600
            for r in range(RESELLERS) for a in range(0, ACCOUNTS, 2)}
        gc.collect()
        # CPU time: on a shared host the wall clock mostly measures the
        # other processes; both figures of a run are taken alike.
        start = time.process_time()
        result = rate_batch(tariff, calls, convert, balances)
        elapsed = time.process_time() - start
        rated = sum(1 for c in result.calls if c.rated)
        del result
        gc.collect()
        _, baseline = dict_baseline(owner_prefixes, calls)
        print(f"  run {repeat + 1}: compile {compiled:.2f} s; engine "
            f"{cdrs / elapsed:,.0f} CDRs/s ({rated:,} rated); dict baseline "
            f"{cdrs / baseline:,.0f} CDRs/s; ratio {baseline / elapsed:.2f}"
            f" (load {os.getloadavg()[0]:.1f})")
        best_rate = min(best_rate or elapsed, elapsed)
        best_base = min(best_base or baseline, baseline)
        compile_best = min(compile_best or compiled, compiled)
    slow = slow_share(tariff, calls, balances)
    print(f"realistic mix, best: engine {cdrs / best_rate:,.0f} CDRs/s, dict "
        f"baseline {cdrs / best_base:,.0f} CDRs/s, engine/baseline "
        f"{best_base / best_rate:.2f}; {slow:.1%} of CDRs through the "
        f"general path; compile {compile_best:.2f} s")


def slow_share(tariff, calls, balances):
    "The share of ``calls`` a batch rates through the general path."
    from trytond.modules.telecom_rating.engine.rating import _Rating
    slow = 0
    rate = _Rating.rate

    def counted(self, call, start):
        nonlocal slow
        slow += 1
        return rate(self, call, start)

    _Rating.rate = counted
    try:
        rate_batch(tariff, calls, convert, balances)
    finally:
        _Rating.rate = rate
    return slow / len(calls)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
        help="small sizes, for a smoke run")
    parser.add_argument('--repeats', type=int, default=3,
        help="runs of the realistic mix; the best is kept (default 3)")
    parser.add_argument('--easy', action='store_true',
        help="also the former chain: one increment and no dates at every "
        "level, the same bands for every tenant")
    parser.add_argument('--no-compile', action='store_true',
        help="skip the compile figures")
    parser.add_argument('--profile', action='store_true',
        help="print where rating spends its time")
    parser.add_argument('--cdrs', type=int,
        help="CDRs of the realistic mix (default 1,000,000, quick 100,000)")
    parser.add_argument('--compile-only', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--banded', action='store_true',
        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_only:
        measure_compile(args.compile_only, args.banded)
        return
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    plan_size = 10_000 if args.quick else 100_000
    cdrs = args.cdrs or (100_000 if args.quick else 1_000_000)

    print(f"Python {sys.version.split()[0]}, one process, {os.cpu_count()} "
        "CPUs, load average {:.2f} {:.2f} {:.2f} (other work on the machine "
        "slows the figures: compare each figure with the baseline measured "
        "beside it)".format(*os.getloadavg()))
    measure_realistic(plan_size, cdrs, args.repeats)
    if args.profile:
        tariff, owner_prefixes, _ = realistic_tariff(plan_size)
        profile_batch(tariff, realistic_calls(100_000, owner_prefixes), {})
    for size in () if args.no_compile else sizes:
        for banded in (False, True):
            output = subprocess.run(
                [sys.executable, __file__, '--compile-only', str(size)]
                + ['--banded'] * banded,
                check=True, capture_output=True, text=True).stdout.split()
            generated, seconds, rss, peak = output
            kind = ("× 2 bands, real names" if banded
                else "× 1 rate, one name")
            print(f"compile {size:>9,} prefixes {kind}: {seconds} s CPU, RSS "
                f"{rss} MB (peak {peak} MB with the input; generating the "
                f"rates: {generated} s CPU)")
    if not args.easy:
        return

    tariff, owner_prefixes, seconds = chain_tariff(plan_size)
    print(f"easy chain (30/6 everywhere, no dates, shared bands), "
        f"{plan_size:,} prefixes × 2 bands: compile {seconds:.2f} s")
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
    del result
    gc.collect()
    _, baseline = dict_baseline(owner_prefixes, calls)
    print(f"dict baseline on the same CDRs: {cdrs / baseline:,.0f} CDRs/s")


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
