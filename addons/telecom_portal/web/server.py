"""``telecom-portal``: serve the customer and reseller portal.

Runs behind the reverse proxy that terminates TLS (docker/nginx.conf; set
trytond's ``[web] num_proxies`` to the number of proxies in front, as for
trytond); cookies are marked Secure, so browse it over HTTPS — or pass
``--insecure-cookies`` on a developer's machine over plain HTTP."""
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
    parser.add_argument('--demo', action='store_true',
        help="first activate the portal and load its demo log-ins and "
        "brands (the database of `make demo`)")
    parser.add_argument('--setup-only', action='store_true',
        help="with --demo: prepare the database, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    from trytond import config
    config.update_etc(args.config)
    from trytond.pool import Pool
    Pool.start()
    from . import demo
    if not demo.is_activated(args.database,
            demo.MODULES if args.demo else ['telecom_portal']):
        if not args.demo:
            parser.error(
                f"telecom_portal is not activated in {args.database}: run "
                f"trytond-admin -c {args.config} -d {args.database} "
                "--activate-dependencies -u telecom_portal")
        demo.activate(args.config, args.database)
    Pool(args.database).init()
    if args.demo:
        print(demo.load(args.database), flush=True)
        if args.setup_only:
            return 0
    from werkzeug.serving import run_simple

    from .app import Portal
    portal = Portal(args.database, secure_cookies=not args.insecure_cookies)
    # Behind the TLS proxy (docker/nginx.conf), as trytond: the client's
    # address (log-in rate limit) and scheme (links in e-mails, payment
    # return URLs) are what the trusted proxies say.
    proxies = config.getint('web', 'num_proxies', default=0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix
        portal = ProxyFix(portal, x_for=proxies, x_proto=proxies,
            x_host=proxies, x_port=proxies)
    host, _, port = args.listen.rpartition(':')
    run_simple(host or '127.0.0.1', int(port), portal, threaded=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
