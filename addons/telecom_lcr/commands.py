"""Sub-commands of ``telecom`` owned by telecom_lcr.

``route`` prints the routing decision of one call — routes in order and why
each other carrier was skipped — so an operator can debug a route or try
carrier decks before loading them. Offline it reads decks (and optionally
carriers, bands, statistics) from CSV; with ``--plan`` it routes for a rate
plan of a database (``-c CONFIG -d DATABASE``): its compiled routing, the
quality statistics of the last 24 hours, and — for a plan of a reseller
that inherits its parent's policy — only what the reseller may see.

``import-carrier-rates`` and ``export-carrier-rates`` are ``import-rates``
and ``export-rates`` of telecom_rating for a carrier's deck of a service:
same importer, same rules, same exit codes. Nothing here imports trytond
at module level.
"""
import datetime as dt
import sys
from collections import Counter
from decimal import Decimal, InvalidOperation

from trytond.modules.telecom_base.progress import Progress
from trytond.modules.telecom_rating.commands import (
    InputError, _database_arguments, _read, _run, output_format, read_input,
    write_output)
from trytond.modules.telecom_rating.engine import (
    read_rate_deck, read_time_bands)

from .engine import (
    STRATEGIES, Carrier, CarrierDeck, Gateway, PlanRouting, RoutingError,
    RoutingPolicy, compile_routing, read_carriers, read_quality_stats,
    route_call)
from .engine.model import SKIP_REASONS

OFFLINE_PLAN = 'offline'
SERVICES = ('voice', 'fax', 'sms')
# The viewer of a decision that may see it whole (offline, the owner).
OWNER_VIEW = object()


def register(subparsers):
    parser = subparsers.add_parser(
        'route', help="show which carriers a call goes to, and why not others",
        description="Print the ordered routes of one call and the reasons "
        "the other carriers were skipped. Offline, from carrier decks in CSV "
        "(no database). Exit code 0 with routes, 1 without, 2 on bad input.")
    source = parser.add_argument_group("what to route on (offline)")
    source.add_argument('--deck', action='append', default=[],
        metavar='CARRIER=DECK.csv', help="a carrier's rate deck (columns as "
        "customer decks); repeat for each carrier")
    source.add_argument('--carriers', metavar='CARRIERS.csv',
        help="carriers: id, currency, gateway and optional name, transport, "
        "tech_prefix, strip_digits, add_prefix, rewrite_pattern, "
        "rewrite_replacement, max_calls, calls_per_second, "
        "allowed_accounts, allowed_plans, state (default: one carrier per "
        "deck, in the plan currency)")
    source.add_argument('--time-bands', metavar='BANDS.csv',
        help="time bands the decks name")
    source.add_argument('--stats', metavar='STATS.csv',
        help="quality statistics: carrier, asr, acd and optional group, "
        "pdd, samples")
    source.add_argument('--plan', help="route for this rate plan (id or "
        "name) of the database given by -c and -d (not with --deck)")
    source.add_argument('-c', '--config',
        help="trytond configuration file (with --plan)")
    source.add_argument('-d', '--database', help="database (with --plan)")
    policy = parser.add_argument_group("policy (offline)")
    policy.add_argument('--policy', choices=STRATEGIES, default='least-cost',
        help="strategy (default least-cost); priority follows the order of "
        "the carriers file, or of the --deck options")
    policy.add_argument('--weights', metavar='A=3,B=1',
        help="ratios of the weighted strategy")
    policy.add_argument('--plan-currency', default='EUR',
        help="currency of costs (default EUR)")
    policy.add_argument('--rate', action='append', default=[],
        metavar='USD:EUR=0.92', help="conversion rate: an amount in the "
        "first currency times the rate is in the second; repeat")
    policy.add_argument('--max-routes', type=int)
    policy.add_argument('--max-cost', type=Decimal,
        help="maximum cost per minute")
    policy.add_argument('--sell-price', type=Decimal,
        help="the call's price per minute: drops carriers costing more")
    policy.add_argument('--min-margin', type=Decimal,
        help="minimum margin per minute under the sell price")
    policy.add_argument('--min-margin-percent', type=Decimal,
        help="minimum margin in percent of the sell price")
    policy.add_argument('--min-asr', type=Decimal, help="ASR threshold (%%)")
    call = parser.add_argument_group("the call")
    call.add_argument('--service', choices=SERVICES,
        default='voice')
    call.add_argument('--caller', required=True)
    call.add_argument('--callee', required=True)
    call.add_argument('--at', help="ISO 8601 instant (no offset = UTC; "
        "default now)")
    call.add_argument('--account', help="the customer (with --plan: its "
        "code or id), for restricted "
        "carriers")
    call.add_argument('--call-id', help="seed of the weighted choice")
    parser.set_defaults(func=route)

    parser = subparsers.add_parser(
        'import-carrier-rates',
        help="load a carrier deck (CSV or XLSX) into a carrier",
        description="Check the deck FILE whole and, if it has no problem, "
        "write its rates into the carrier's rates of the service in one "
        "transaction. Same columns and rules as import-rates; prices in the "
        "carrier's currency. A deck with problems is rejected whole: each "
        "is listed on stderr and the exit code is 2.")
    _database_arguments(parser)
    parser.add_argument('--carrier', required=True, metavar='CARRIER',
        help="the carrier's code, id or name")
    parser.add_argument('--service', choices=SERVICES, default='voice',
        help="the deck's service (default voice)")
    parser.add_argument('file', metavar='FILE',
        help="the deck: .csv (UTF-8) or .xlsx (first sheet)")
    parser.add_argument('--replace', action='store_true',
        help="the carrier's rates of the service become the deck's "
        "(default: add them; a rate the carrier already has rejects the "
        "deck)")
    parser.set_defaults(func=import_carrier_rates)

    parser = subparsers.add_parser(
        'export-carrier-rates', help="write the rates of a carrier as a deck",
        description="Write the carrier's rates of the service with the "
        "columns import-carrier-rates reads; importing the file gives the "
        "same rates.")
    _database_arguments(parser)
    parser.add_argument('--carrier', required=True, metavar='CARRIER',
        help="the carrier's code, id or name")
    parser.add_argument('--service', choices=SERVICES, default='voice',
        help="default voice")
    parser.add_argument('--format', choices=['csv', 'xlsx'],
        help="default: from the output file's extension, else csv")
    parser.add_argument('-o', '--output', metavar='FILE',
        help="default: stdout")
    parser.set_defaults(func=export_carrier_rates)


def route(args, stdout=None, stderr=None):
    "Run ``telecom route``; return the exit code."
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    problems = []
    at = dt.datetime.now(dt.timezone.utc)
    if args.at:
        try:
            at = dt.datetime.fromisoformat(args.at)
        except ValueError:
            problems.append(f"--at {args.at!r}: not an ISO 8601 instant")
    if args.plan and args.deck:
        problems.append("--plan reads the database, --deck a file: "
            "give one of them")
    elif not args.plan and not args.deck:
        problems.append("give --deck CARRIER=DECK.csv (or --plan)")
    elif args.plan and not (args.config and args.database):
        problems.append("--plan needs the database: -c CONFIG -d DATABASE")
    loaded = None
    if not problems:
        load = _load_from_database if args.plan else _load_offline
        loaded = load(args, problems)
    if problems:
        for problem in problems:
            print(problem, file=stderr)
        return 2
    index, plan_id, stats, viewer, names, account = loaded
    caller, callee = _digits(args.caller), _digits(args.callee)
    decision = route_call(index, plan_id, args.service, caller, callee, at,
        account=account, sell_price=args.sell_price, stats=stats,
        max_routes=args.max_routes, call_id=args.call_id)
    if viewer is not OWNER_VIEW:
        # A reseller's plan: what the reseller may see, nothing more.
        decision = decision.view(viewer)
    when = at.astimezone(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    print(f"{args.service} call from {caller} to {callee} at {when}, "
        f"policy {decision.strategy or '-'}", file=stdout)
    for n, r in enumerate(decision.routes, 1):
        if r.carrier is None:
            print(f"{n:>3}. (a route of the parent's policy)", file=stdout)
            continue
        print(f"{n:>3}. {names.get(r.carrier, r.carrier):<12} "
            f"{r.cost_per_minute.normalize():f} "
            f"{r.currency}/min  prefix {r.prefix:<10} {r.dialstring}",
            file=stdout)
    for skip in decision.skipped:
        print(f"  skipped {names.get(skip.carrier, skip.carrier):<12} "
            f"{skip.reason}", file=stdout)
    if decision.reason:
        print(decision.reason, file=stdout)
    counts = Counter(s.reason for s in decision.skipped)
    detail = ', '.join(f"{r}: {counts[r]}" for r in SKIP_REASONS
        if counts[r])
    print(f"routes {len(decision.routes)}, skipped {len(decision.skipped)}"
        + (f" ({detail})" if detail else ''), file=stderr)
    return 0 if decision.routes else 1


def _load_offline(args, problems):
    "Return (RoutingIndex, plan id, stats) from the CSV files of ``args``."
    bands = _read(read_time_bands, problems, args.time_bands) \
        if args.time_bands else []
    names = {b.name for b in bands}
    decks = []
    for value in args.deck:
        carrier, sep, path = value.partition('=')
        if not sep or not carrier or not path:
            problems.append(f"--deck {value!r}: expected CARRIER=DECK.csv")
            continue
        decks.append(CarrierDeck(carrier,
                _read(read_rate_deck, problems, path, names),
                args.service))
    if args.carriers:
        carriers = _read(read_carriers, problems, args.carriers)
    else:
        carriers = [Carrier(d.carrier, d.carrier, args.plan_currency,
                (Gateway(d.carrier),)) for d in decks]
    stats = _read(read_quality_stats, problems, args.stats) \
        if args.stats else None
    rates = {}
    for value in args.rate:
        try:
            pair, _, rate = value.partition('=')
            source, target = pair.upper().split(':')
            rates[source, target] = Decimal(rate)
        except (ValueError, InvalidOperation):
            problems.append(f"--rate {value!r}: expected e.g. USD:EUR=0.92")
    weights = {}
    for item in (args.weights or '').split(','):
        if item:
            carrier, _, weight = item.partition('=')
            if not weight.isdigit():
                problems.append(f"--weights {item!r}: expected CARRIER=N")
            else:
                weights[carrier] = int(weight)
    if problems:
        return None
    policy = RoutingPolicy(OFFLINE_PLAN, OFFLINE_PLAN, args.service,
        args.policy, carriers=tuple(c.id for c in carriers),
        weights=weights, max_routes=args.max_routes,
        loss_guard=args.sell_price is not None, max_cost=args.max_cost,
        min_margin=args.min_margin,
        min_margin_percent=args.min_margin_percent, min_asr=args.min_asr)
    try:
        index = compile_routing(carriers, decks,
            [PlanRouting(OFFLINE_PLAN, args.plan_currency.upper())],
            [policy], time_bands=bands,
            convert=lambda source, target, date: rates.get((source, target)))
    except RoutingError as exception:
        problems.extend(exception.problems)
        return None
    return index, OFFLINE_PLAN, stats, OWNER_VIEW, {}, args.account


def _load_from_database(args, problems):
    """Return (RoutingIndex, plan id, stats, viewer, carrier codes, account
    id) of ``args.plan`` from the database of ``args``: the compiled
    routing of ``load_routing``, the statistics of ``load_quality`` and,
    for a reseller's plan, the reseller as the viewer of the decision."""
    from trytond import config
    config.update_etc(args.config)
    from trytond.modules.telecom_rating.commands import (
        InputError, _find_plan)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from .quality import load_quality
    from .routing import _tenant, load_routing

    pool = Pool(args.database)
    pool.init()
    with Transaction().start(args.database, 0, readonly=True):
        Carrier = pool.get('telecom.carrier')
        Account = pool.get('telecom.account')
        try:
            plan = _find_plan(pool, args.plan)
        except InputError as exception:
            problems.extend(exception.problems)
            return None
        account = None
        if args.account:
            accounts = Account.search([('code', '=', args.account)])
            if not accounts and args.account.isdigit():
                accounts = Account.search([('id', '=', int(args.account))])
            if not accounts:
                problems.append(
                    f"no account with code or id {args.account!r}")
                return None
            account = accounts[0].id
        try:
            index = load_routing()
        except RoutingError as exception:
            problems.extend(exception.problems)
            return None
        tenant = _tenant(plan.company)
        viewer = OWNER_VIEW if tenant is None else tenant
        names = {c.id: c.code for c in Carrier.search([])}
        return index, plan.id, load_quality(), viewer, names, account


def _digits(number):
    return number[1:] if number.startswith('+') else number


def _find_carrier(pool, value):
    Carrier = pool.get('telecom.carrier')
    carriers = Carrier.search([('code', '=', value)])
    if not carriers and value.isdigit():
        carriers = Carrier.search([('id', '=', int(value))])
    if not carriers:
        carriers = Carrier.search([('name', '=', value)])
    if not carriers:
        raise InputError(f"no carrier with code, id or name {value!r}")
    if len(carriers) > 1:
        raise InputError(f"{len(carriers)} carriers are named {value!r}; "
            "give the code of one:", *(
                f"  {c.code}: {c.name}" for c in carriers))
    return carriers[0]


def import_carrier_rates(args):
    "Run ``telecom import-carrier-rates``; return the exit code."
    data = read_input(args.file)
    if data is None:
        return 2

    def work(pool):
        carrier = _find_carrier(pool, args.carrier)
        with Progress(None, sys.stderr, unit='rates') as progress:
            imported, removed = carrier.import_rates(
                data, args.file, service=args.service, replace=args.replace,
                progress=progress.update)
        print(f"imported {imported} {args.service} rates into carrier "
            f"{carrier.code}" + (
                f", replacing {removed}" if args.replace else ''),
            file=sys.stderr)
    return _run(args, work)


def export_carrier_rates(args):
    "Run ``telecom export-carrier-rates``; return the exit code."
    format_ = output_format(args)

    def work(pool):
        CarrierRate = pool.get('telecom.carrier.rate')
        carrier = _find_carrier(pool, args.carrier)
        write_output(args, carrier.export_rates(format_, args.service))
        count = CarrierRate.search([('carrier', '=', carrier.id),
                ('service', '=', args.service)], count=True)
        print(f"exported {count} {args.service} rates of carrier "
            f"{carrier.code} as {format_}"
            + (f" to {args.output}" if args.output else ''), file=sys.stderr)
    return _run(args, work)
