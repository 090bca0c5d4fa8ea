"""Sub-commands of ``telecom`` owned by telecom_rating.

``simulate`` needs no database: it reads a deck, optional time bands and a
CDR file, and prints the cost of every call, so an operator can try a new
deck on last month's traffic before loading it. Nothing here imports
trytond at module level.
"""
import csv
import sys
from collections import Counter

from .engine import (
    InvalidFile, Level, RatePlan, TariffError, compile_tariff, rate_batch,
    read_cdrs, read_rate_deck, read_time_bands)
from .engine.model import DIRECTIONS, ROUNDING_METHODS

OUTPUT_COLUMNS = (
    'call_id', 'prefix', 'destination', 'charged_seconds', 'cost', 'currency')
CHUNK = 20000


def register(subparsers):
    parser = subparsers.add_parser(
        'simulate', help="rate a CDR file against a rate deck, no database",
        description="Rate the calls of a CDR CSV against a rate deck CSV and "
        "write call_id, prefix, destination, charged_seconds, cost, currency "
        "as CSV on stdout. Calls without a rate are written with an empty "
        "cost and counted in the summary.")
    parser.add_argument('--rates', required=True, metavar='DECK.csv',
        help="rate deck: prefix, rate and optional destination, connect_fee, "
        "min_duration, increment_first, increment_next, valid_from, "
        "valid_to, priority, time_band")
    parser.add_argument('--time-bands', metavar='BANDS.csv',
        help="time bands: name, days, start, end, timezone[, holidays]")
    parser.add_argument('--decimals', type=int, default=4,
        help="decimals of each call's cost (default 4)")
    parser.add_argument('--rounding', choices=ROUNDING_METHODS,
        default='half-up', help="rounding of each call's cost "
        "(default half-up)")
    parser.add_argument('--currency', default='EUR',
        help="currency of the deck (default EUR)")
    parser.add_argument('--cdrs', required=True, metavar='CDRS.csv',
        help="calls: call_id, caller, callee, start (ISO 8601 with offset), "
        "duration (billable seconds), optional direction")
    parser.set_defaults(func=simulate)


def simulate(args, stdout=None, stderr=None):
    "Run ``telecom simulate``; return the exit code."
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    problems = []
    bands = []
    if args.time_bands:
        bands = _read(read_time_bands, problems, args.time_bands)
    rates = _read(read_rate_deck, problems, args.rates,
        {b.name for b in bands})
    # The deck prices both directions: one plan per direction.
    chains = {d: (Level(d),) for d in DIRECTIONS}
    calls = _read(read_cdrs, problems, args.cdrs, chains)
    if not problems:
        try:
            tariff = compile_tariff([
                    RatePlan(d, args.currency, tuple(rates),
                        decimals=args.decimals, rounding=args.rounding,
                        direction=d)
                    for d in DIRECTIONS], bands)
        except TariffError as exception:
            problems.extend(f"{args.rates}: {p}" for p in exception.problems
                if p.startswith(f"plan {DIRECTIONS[0]}"))
    if problems:
        for problem in problems:
            print(problem, file=stderr)
        return 2

    writer = csv.writer(stdout, lineterminator='\n')
    writer.writerow(OUTPUT_COLUMNS)
    progress = Progress(len(calls), stderr)
    reasons = Counter()
    rated = 0
    for offset in range(0, len(calls), CHUNK):
        chunk = calls[offset:offset + CHUNK]
        for call in rate_batch(tariff, chunk).calls:
            if call.rated:
                rated += 1
                charge = call.levels[0]
                writer.writerow((call.call_id, charge.prefix,
                        charge.destination, charge.charged_seconds,
                        charge.cost, charge.currency))
            else:
                reasons[_kind(call.reason)] += 1
                writer.writerow((call.call_id, '', '', '', '', ''))
        progress.update(offset + len(chunk))
    progress.close()
    unrated = sum(reasons.values())
    detail = ', '.join(f"{kind}: {n}" for kind, n in reasons.most_common())
    print(f"rated {rated}, unrated {unrated}"
        + (f" ({detail})" if detail else ''), file=stderr)
    return 0


def _read(reader, problems, *args):
    try:
        return reader(*args)
    except InvalidFile as exception:
        problems.extend(exception.problems)
    except OSError as exception:
        problems.append(f"{args[0]}: {exception.strerror}")
    return []


def _kind(reason):
    "The reason without the call's number and instant, to count alike."
    if 'leave a gap' in reason:
        return "gap in time bands"
    if reason.startswith('no rate for'):
        return "no rate"
    return reason


class Progress:
    "A progress bar on ``stream``, drawn only when it is a terminal."

    def __init__(self, total, stream, width=40):
        self.total, self.stream, self.width = total, stream, width
        self.shown = stream.isatty() and total > 0

    def update(self, done):
        if self.shown:
            filled = self.width * done // self.total
            bar = '#' * filled + '.' * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} calls")
            self.stream.flush()

    def close(self):
        if self.shown:
            self.stream.write('\n')
