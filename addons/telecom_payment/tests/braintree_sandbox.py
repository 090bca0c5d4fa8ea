"""A local stand-in for the Braintree sandbox, for the tests: an HTTP
server on 127.0.0.1 answering the SDK's requests with Braintree's XML, and
the SDK pointed at it. Only the HTTP boundary is replaced: Tryton's
account_payment_braintree and the ``braintree`` SDK run unchanged.

Requests come as the SDK writes them (XML, underscores); answers as the
gateway writes them (XML, dashes). It knows what the top-up flow uses:
a client token for the Drop-in (``POST /merchants/<id>/client_token``),
create a sale (``POST /merchants/<id>/transactions``), find one (``GET
…/transactions/<id>``) and the sandbox's testing call that settles one
(``PUT …/<id>/settle``).

Declines are the sandbox's documented ones: the test nonces
``fake-processor-declined-*-nonce`` and amounts from 2000.00 to 3000.99
are refused by the processor ("Do Not Honor", code 2000), as an
``api-error-response`` with HTTP 422; the declined transaction is kept.
"""
import base64
import itertools
import json
import re
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import braintree


def transaction_xml(transaction):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<transaction>'
        f'<id>{transaction["id"]}</id>'
        f'<status>{transaction["status"]}</status>'
        '<type>sale</type>'
        f'<amount>{transaction["amount"]}</amount>'
        f'<currency-iso-code>{transaction["currency"]}</currency-iso-code>'
        '<payment-instrument-type>paypal_account</payment-instrument-type>'
        '<paypal><payer-email>payer@example.com</payer-email></paypal>'
        '<refund-ids type="array"/><disputes type="array"/>'
        '<status-history type="array"/>'
        '</transaction>')


def declined_xml(transaction):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<api-error-response>'
        '<errors><errors type="array"/></errors>'
        '<message>Do Not Honor</message>'
        + transaction_xml(transaction).split('\n', 1)[1].replace(
            '</transaction>',
            '<processor-response-code>2000</processor-response-code>'
            '<processor-response-text>Do Not Honor'
            '</processor-response-text></transaction>')
        + '</api-error-response>')


def declines(nonce, amount):
    "Whether the sandbox's processor declines this sale"
    return ((nonce or '').startswith('fake-processor-declined-')
        or Decimal('2000') <= amount < Decimal('3001'))


class Sandbox:
    "The server, its transactions (id → dict) and the requests it saw"

    def __init__(self, currency='EUR'):
        self.currency = currency
        self.transactions = {}
        self.requests = []
        self.client_tokens = 0
        self._ids = (f'tx{i:06d}' for i in itertools.count(1))
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                data = body.encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/xml')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                length = int(self.headers.get('Content-Length') or 0)
                return self.rfile.read(length).decode() if length else ''

            def do_POST(self):
                body = self._body()
                sandbox.requests.append(('POST', self.path, body))
                if re.fullmatch(r'/merchants/[^/]+/client_token', self.path):
                    sandbox.client_tokens += 1
                    token = base64.b64encode(json.dumps({
                                'version': 2, 'environment': 'sandbox',
                                'authorizationFingerprint':
                                f'sandbox-{sandbox.client_tokens}',
                                }).encode()).decode()
                    return self._answer(201, '<?xml version="1.0" '
                        'encoding="UTF-8"?>\n<client-token><value>'
                        f'{token}</value></client-token>')
                if not re.fullmatch(r'/merchants/[^/]+/transactions',
                        self.path):
                    return self._answer(404, '')
                xml = ElementTree.fromstring(body)
                settle = xml.findtext('options/submit_for_settlement')
                transaction = {
                    'id': next(sandbox._ids),
                    'amount': Decimal(xml.findtext('amount')),
                    'currency': sandbox.currency,
                    'nonce': xml.findtext('payment_method_nonce'),
                    # A boolean read from SQLite comes as the integer 1.
                    'status': ('submitted_for_settlement'
                        if settle in {'true', '1'} else 'authorized'),
                    }
                if declines(transaction['nonce'], transaction['amount']):
                    transaction['status'] = 'processor_declined'
                    sandbox.transactions[transaction['id']] = transaction
                    return self._answer(422, declined_xml(transaction))
                sandbox.transactions[transaction['id']] = transaction
                self._answer(201, transaction_xml(transaction))

            def do_GET(self):
                sandbox.requests.append(('GET', self.path, ''))
                match = re.fullmatch(
                    r'/merchants/[^/]+/transactions/([^/]+)', self.path)
                if not match or match[1] not in sandbox.transactions:
                    return self._answer(404, '')
                self._answer(
                    200, transaction_xml(sandbox.transactions[match[1]]))

            def do_PUT(self):
                self._body()
                sandbox.requests.append(('PUT', self.path, ''))
                match = re.fullmatch(
                    r'/merchants/[^/]+/transactions/([^/]+)/settle',
                    self.path)
                if not match or match[1] not in sandbox.transactions:
                    return self._answer(404, '')
                transaction = sandbox.transactions[match[1]]
                transaction['status'] = 'settled'
                self._answer(200, transaction_xml(transaction))

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        # The SDK finds the sandbox's host in this table; the 'sandbox'
        # environment of a Braintree account now reaches this server.
        self.saved = braintree.Environment.All['sandbox']
        braintree.Environment.All['sandbox'] = braintree.Environment(
            'sandbox', '127.0.0.1', str(self.port), 'http://127.0.0.1',
            False, None)
        return self

    def __exit__(self, *exc):
        braintree.Environment.All['sandbox'] = self.saved
        self.server.shutdown()
        self.server.server_close()
