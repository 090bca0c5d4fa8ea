"""``telecom-portal``: serve the customer and reseller portal.

Runs behind the reverse proxy that terminates TLS (docker/); cookies are
marked Secure, so browse it over HTTPS — or pass ``--insecure-cookies`` on
a developer's machine over plain HTTP."""
import argparse
import logging


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='telecom-portal', description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--listen', default='127.0.0.1:8010',
        help="host:port (default 127.0.0.1:8010)")
    parser.add_argument('--insecure-cookies', action='store_true',
        help="send cookies over plain HTTP (development only)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    from trytond import config
    config.update_etc(args.config)
    from trytond.pool import Pool
    Pool.start()
    Pool(args.database).init()
    from werkzeug.serving import run_simple

    from .app import Portal
    portal = Portal(args.database, secure_cookies=not args.insecure_cookies)
    host, _, port = args.listen.rpartition(':')
    run_simple(host or '127.0.0.1', int(port), portal, threaded=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
