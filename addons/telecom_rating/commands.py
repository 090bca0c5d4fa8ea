"""Sub-commands of ``telecom`` owned by telecom_rating.

``simulate`` needs no database: it reads a deck, optional time bands and a
CDR file, and prints the cost of every call, so an operator can try a new
deck on last month's traffic before loading it. Nothing here imports
trytond at module level.

``import-rates``, ``export-rates``, ``rate`` and ``rerate`` work on a
database (``-c CONFIG -d DATABASE``) as the root user, in one transaction
each: committed when the work is done, rolled back on any problem. Bad
input exits with code 2, every problem on stderr, nothing applied.
"""
import argparse
import csv
import datetime as dt
import sys
from collections import Counter

from trytond.modules.telecom_base.progress import Progress

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

    parser = subparsers.add_parser(
        'import-rates', help="load a rate deck (CSV or XLSX) into a plan",
        description="Check the deck FILE whole and, if it has no problem, "
        "write its rates into the plan in one transaction. Columns: prefix, "
        "destination, rate, connect_fee, min_duration, increment_first, "
        "increment_next, valid_from, valid_to, priority, time_band (a band "
        "of the plan's tenant). A deck with problems is rejected whole: "
        "each is listed on stderr and the exit code is 2.")
    _database_arguments(parser)
    parser.add_argument('--plan', required=True, metavar='PLAN',
        help="the plan's id or name")
    parser.add_argument('file', metavar='FILE',
        help="the deck: .csv (UTF-8) or .xlsx (first sheet)")
    parser.add_argument('--replace', action='store_true',
        help="the plan's rates become the deck's (default: add them; a "
        "rate the plan already has rejects the deck)")
    parser.set_defaults(func=import_rates)

    parser = subparsers.add_parser(
        'export-rates', help="write the rates of a plan as a deck",
        description="Write the plan's own rates with the columns "
        "import-rates reads; importing the file gives the same rates.")
    _database_arguments(parser)
    parser.add_argument('--plan', required=True, metavar='PLAN',
        help="the plan's id or name")
    parser.add_argument('--format', choices=['csv', 'xlsx'],
        help="default: from the output file's extension, else csv")
    parser.add_argument('-o', '--output', metavar='FILE',
        help="default: stdout")
    parser.set_defaults(func=export_rates)

    parser = subparsers.add_parser(
        'rate', help="rate every unrated CDR",
        description="Rate the unrated CDRs in batches at every tenant "
        "level; calls that still have no rate stay unrated with the "
        "reason.")
    _database_arguments(parser)
    parser.add_argument('--batch', type=_positive, default=20000,
        help="CDRs per batch (default 20000)")
    parser.set_defaults(func=rate)

    parser = subparsers.add_parser(
        'rerate', help="rate CDRs again with today's rates (F16)",
        description="Rate again the CDRs of a period, account or plan. A "
        "call whose price changes gets a new rating version (the old one "
        "is kept; an invoiced call is flagged for adjustment); re-rating "
        "the same data twice changes nothing.")
    _database_arguments(parser)
    parser.add_argument('--from', dest='from_', type=_instant,
        metavar='DATE', help="calls starting from DATE (UTC)")
    parser.add_argument('--to', type=_instant, metavar='DATE',
        help="calls starting up to DATE (a date includes its whole day)")
    parser.add_argument('--account', metavar='CODE',
        help="calls of the account with this code")
    parser.add_argument('--plan', metavar='PLAN',
        help="calls whose current rating used this plan (id or name) at "
        "any level")
    parser.set_defaults(func=rerate)


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
    progress = Progress(len(calls), stderr, unit='calls')
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


class InputError(Exception):
    "Bad input of a command: its problems are printed, exit code 2."

    def __init__(self, *problems):
        super().__init__('\n'.join(map(str, problems)))
        self.problems = problems


def _database_arguments(parser):
    parser.add_argument('-c', '--config', required=True,
        help="trytond configuration file")
    parser.add_argument('-d', '--database', required=True)


def _positive(value):
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _instant(value):
    "An ISO date (its whole day) or datetime, UTC without offset"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date (2026-03-01) or datetime")
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment, len(value) == 10


def _run(args, work, stderr=None):
    """Run ``work(pool)`` in a transaction of the database of ``args``:
    committed when it returns, rolled back when it raises. Return the exit
    code."""
    stderr = stderr or sys.stderr
    from trytond import config
    config.update_etc(args.config)
    from trytond.exceptions import UserError
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(args.database)
    pool.init()
    try:
        with Transaction().start(args.database, 0) as transaction:
            work(pool)
            transaction.commit()
    except InputError as exception:
        for problem in exception.problems:
            print(problem, file=stderr)
        return 2
    except UserError as exception:
        # A rejected deck lists all its problems, not the capped message.
        problems = getattr(exception, 'problems', None)
        if problems:
            for problem in problems:
                print(problem, file=stderr)
            print(f"rejected: {len(problems)} problems, nothing applied",
                file=stderr)
        else:
            print(exception.message, file=stderr)
        return 2
    return 0


def _find_plan(pool, value):
    Plan = pool.get('telecom.rate.plan')
    plans = []
    if value.isdigit():
        plans = Plan.search([('id', '=', int(value))])
    if not plans:
        plans = Plan.search([('name', '=', value)])
    if not plans:
        raise InputError(f"no rate plan with id or name {value!r}")
    if len(plans) > 1:
        raise InputError(f"{len(plans)} rate plans are named {value!r}; "
            "give the id of one:", *(
                f"  {p.id}: {p.name} ({p.company.rec_name})" for p in plans))
    return plans[0]


def read_input(path):
    "The bytes of the file at ``path``, or None with the reason on stderr"
    try:
        with open(path, 'rb') as file:
            return file.read()
    except OSError as exception:
        print(f"{path}: {exception.strerror}", file=sys.stderr)


def output_format(args):
    "The deck format of an export: ``--format``, else the output's extension"
    if args.format:
        return args.format
    return 'xlsx' if (args.output or '').lower().endswith('.xlsx') else 'csv'


def write_output(args, data):
    "Write ``data`` to ``--output``, else to stdout"
    if args.output:
        with open(args.output, 'wb') as file:
            file.write(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def import_rates(args):
    "Run ``telecom import-rates``; return the exit code."
    data = read_input(args.file)
    if data is None:
        return 2

    def work(pool):
        plan = _find_plan(pool, args.plan)
        with Progress(None, sys.stderr, unit='rates') as progress:
            imported, removed = plan.import_rates(
                data, args.file, replace=args.replace,
                progress=progress.update)
        print(f"imported {imported} rates into plan {plan.name} "
            f"(id {plan.id})" + (
                f", replacing {removed}" if args.replace else ''),
            file=sys.stderr)
    return _run(args, work)


def export_rates(args):
    "Run ``telecom export-rates``; return the exit code."
    format_ = output_format(args)

    def work(pool):
        Rate = pool.get('telecom.rate')
        plan = _find_plan(pool, args.plan)
        write_output(args, plan.export_rates(format_))
        count = Rate.search([('plan', '=', plan.id)], count=True)
        print(f"exported {count} rates of plan {plan.name} (id {plan.id}) "
            f"as {format_}" + (f" to {args.output}" if args.output else ''),
            file=sys.stderr)
    return _run(args, work)


def rate(args):
    "Run ``telecom rate``; return the exit code."
    def work(pool):
        Cdr = pool.get('telecom.cdr')
        total = len(Cdr.unrated_ids())
        with Progress(total, sys.stderr, unit='CDRs') as progress:
            rated, unrated = Cdr.rate_unrated(
                batch=args.batch, progress=progress.update)
        print(f"rated {rated}, unrated {unrated}"
            + (" (see the CDRs' reasons)" if unrated else ''),
            file=sys.stderr)
    return _run(args, work)


def rerate(args):
    "Run ``telecom rerate``; return the exit code."
    def work(pool):
        Cdr = pool.get('telecom.cdr')
        Account = pool.get('telecom.account')
        domain = []
        if args.from_:
            domain.append(('start', '>=', args.from_[0]))
        if args.to:
            moment, whole_day = args.to
            if whole_day:
                domain.append(('start', '<', moment + dt.timedelta(days=1)))
            else:
                domain.append(('start', '<=', moment))
        if args.account:
            accounts = Account.search([('code', '=', args.account)])
            if not accounts:
                raise InputError(f"no account with code {args.account!r}")
            domain.append(('account', 'in', [a.id for a in accounts]))
        if args.plan:
            plan = _find_plan(pool, args.plan)
            domain.append(('charges.plan', '=', plan.id))
        cdrs = Cdr.search(domain, order=[('id', 'ASC')])
        with Progress(len(cdrs), sys.stderr, unit='CDRs') as progress:
            changed, unchanged, unrated = Cdr.rerate(
                cdrs, progress=progress.update)
        print(f"re-rated {len(cdrs)} CDRs: changed {changed}, "
            f"unchanged {unchanged}, unrated {unrated}", file=sys.stderr)
    return _run(args, work)
