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


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
