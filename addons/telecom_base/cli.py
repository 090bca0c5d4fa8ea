"""The ``telecom`` console command.

One command for operators, with a sub-command per task. Each telecom module
that offers sub-commands has a ``commands.py`` with ``register(subparsers)``
adding its parsers; a parser sets ``func`` to a callable taking the parsed
arguments and returning the process exit code. Sub-commands that need no
database (``simulate``) must not import trytond at module level, so that
``telecom simulate`` works on a laptop with only the engine installed.
"""
import argparse
import importlib
import os
import sys

# Order is the order of the help text.
COMMAND_MODULES = [
    'trytond.modules.telecom_base.commands',
    'trytond.modules.telecom_rating.commands',
    'trytond.modules.telecom_lcr.commands',
    'trytond.modules.telecom_switch.commands',
    'trytond.modules.telecom_billing.commands',
    ]


def build_parser():
    parser = argparse.ArgumentParser(
        prog='telecom',
        description="Operator commands of the telecom billing suite.")
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exception:
            # A module of the suite that is not installed adds no command;
            # any other missing import is a real error.
            if exception.name and name.startswith(exception.name):
                continue
            raise
        module.register(subparsers)
    return parser


# Where a database is looked for comes from the environment (etc/trytond.conf
# says why); the Makefile sets it for `make demo`. Said when one is missing.
DATABASE_HINT = (
    "The database is looked for with TRYTOND_DATABASE__URI (now {uri}) "
    "and, for SQLite, in TRYTOND_DATABASE__PATH (now {path}). The demo's "
    "is var/db/demo.sqlite of the checkout: run `export "
    "TRYTOND_DATABASE__URI=sqlite:// TRYTOND_DATABASE__PATH=$PWD/var/db` "
    "there first, as `make demo` does.")


def _open_problem(args):
    """Why the command of ``args`` cannot start — its configuration file
    or database missing — in words, or None"""
    config_file = getattr(args, 'config', None)
    if config_file is None:
        return None
    if not os.path.isfile(config_file):
        return f"no configuration file {config_file}: give -c the path of " \
            "trytond.conf (etc/trytond.conf in the checkout)."
    database = getattr(args, 'database', None)
    if database is None or args.command == 'demo-setup':
        # demo-setup creates its database.
        return None
    from trytond import backend, config
    config.update_etc(config_file)
    try:
        backend.Database(database).connect()
    except Exception as exception:
        said = str(exception).rstrip(".!")
        return f"cannot open database {database!r}: {said}. " + (
            DATABASE_HINT.format(uri=config.get('database', 'uri'),
                path=config.get('database', 'path')))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _open_problem(args)
    if problem:
        print(f"telecom {args.command}: {problem}", file=sys.stderr)
        return 1
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
