"""Sub-commands of ``telecom`` owned by telecom_base."""
import os
import subprocess
import sys
import tempfile


def register(subparsers):
    parser = subparsers.add_parser(
        'demo-setup',
        help="create the demo database, activate the suite, load demo data",
        description="Create DATABASE if missing, activate the telecom "
        "modules and load the demo tenants, accounts and users. Running it "
        "again reuses what exists.")
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument(
        '--admin-password', default='owner-demo-2026',
        help="password of the admin user of a new database")
    parser.set_defaults(func=demo_setup)

    parser = subparsers.add_parser(
        'activate',
        help="activate (or update) the whole suite in a database",
        description="Activate every module of the suite, with what they "
        "need, in DATABASE (already initialised by trytond-admin --all), or "
        "update them: what docker/entrypoint.sh runs at each start.")
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.set_defaults(func=lambda args: activate_suite(
            args.config, args.database) or 0)


def _admin(config, database, *args, env=None):
    command = [
        os.path.join(os.path.dirname(sys.executable), 'trytond-admin'),
        '-c', config, '-d', database, *args]
    subprocess.run(command, check=True, env=env)


def activate_suite(config, database, env=None):
    """Activate the suite's modules (telecom_base.demo.MODULES: every module
    of this distribution) and their dependencies in ``database`` — the demo
    and production alike"""
    from trytond.modules.telecom_base.demo import MODULES
    _admin(config, database, '--activate-dependencies', '-u', *MODULES,
        env=env)


def demo_setup(args):
    from trytond import config as tryton_config
    tryton_config.update_etc(args.config)
    from trytond.modules.telecom_base import demo

    uri = tryton_config.get('database', 'uri')
    if uri.startswith('sqlite'):
        path = tryton_config.get('database', 'path')
        os.makedirs(path, exist_ok=True)
        db_file = os.path.join(path, args.database + '.sqlite')
        if not os.path.exists(db_file):
            open(db_file, 'a').close()
    if not demo.is_activated(args.database, demo.MODULES):
        print(f"Activating {', '.join(demo.MODULES)} in {args.database} "
            "(first run takes a minute)…", flush=True)
        # A file of its own (readable by its owner only): two set-ups side
        # by side (tests building the demo on both backends) each remove
        # their own.
        fd, passfile = tempfile.mkstemp(prefix='telecom-admin-')
        with os.fdopen(fd, 'w') as fp:
            fp.write(args.admin_password)
        env = {**os.environ, 'TRYTONPASSFILE': passfile}
        try:
            _admin(
                args.config, args.database, '--all',
                '--email', 'admin@example.net', env=env)
            activate_suite(args.config, args.database, env=env)
        finally:
            os.remove(passfile)
    summary = demo.load(args.database)
    print(summary)
    return 0
