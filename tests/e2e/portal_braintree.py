"""telecom-portal with Braintree's sandbox environment on a local stand-in.

    BRAINTREE_SANDBOX=127.0.0.1:PORT python -m tests.e2e.portal_braintree \
        -c CONFIG -d DATABASE …(telecom-portal's arguments)

The browser tests run the portal as its own process; its merchant account
says environment "sandbox", which the ``braintree`` SDK resolves through
``braintree.Environment.All``. Only that entry changes, to the stand-in of
telecom_payment's tests (braintree_sandbox.py, started by the test): the
portal, account_payment_braintree and the SDK run unchanged, the HTTP
boundary alone is replaced."""
import os
import sys

import braintree


def main():
    host, port = os.environ['BRAINTREE_SANDBOX'].rsplit(':', 1)
    braintree.Environment.All['sandbox'] = braintree.Environment(
        'sandbox', host, port, f'http://{host}', False, None)
    from trytond.modules.telecom_portal.web.server import main as portal
    return portal(sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
