"""The portal's WSGI application: routing, one Tryton transaction per
request, sessions, CSRF, authorization and rendering.

Every route is declared with ``@route(path, kind)``; ``kind`` names the
principal it requires — ``public``, ``signed-in`` (customer or reseller),
``customer`` or ``reseller`` — and the dispatcher checks it before the
handler runs, so no handler can forget it. Handlers reach data only through
the request's scope (``scope.py``).
"""
import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import (
    Forbidden, HTTPException, NotFound, RequestEntityTooLarge)
from werkzeug.routing import IntegerConverter, Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from trytond.exceptions import UserError, UserWarning
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError
from trytond.worker import run_task

from . import brand as branding
from .payments import masked_iban
from .scope import principal_scope

logger = logging.getLogger('telecom.portal')
HERE = Path(__file__).parent
SESSION_COOKIE = 'portal_session'
ANONYMOUS_CSRF_COOKIE = 'portal_csrf'
KINDS = {'public', 'signed-in', 'customer', 'reseller'}

ROUTES = []
MAX_BODY = 32 * 1024 * 1024


def route(path, kind, methods=('GET',)):
    "Declare a page: its path, the principal it requires, its methods"
    assert kind in KINDS, kind

    def decorator(func):
        # The endpoint names the module too: a customer's and a reseller's
        # page may share a function name, never a handler.
        endpoint = f'{func.__module__.rsplit(".", 1)[-1]}.{func.__name__}'
        assert endpoint not in {r[1] for r in ROUTES}, endpoint
        ROUTES.append((path, endpoint, tuple(methods), kind, func))
        func.portal_kind = kind
        return func
    return decorator


class FormErrors(dict):
    "Field name → message; '' for errors of the whole form"


class Context:
    "One request as the handlers see it"

    def __init__(self, portal, request):
        self.portal = portal
        self.request = request
        self.user = None
        self.session_key = None
        self.scope = None
        self.discard = False
        self.new_cookies = []
        self._brand = None

    # --- principal -------------------------------------------------------

    def load_session(self):
        WebUser = Pool().get('web.user')
        key = self.request.cookies.get(SESSION_COOKIE)
        if not key:
            return
        user = WebUser.get_user(key)
        if user and user.active:
            scope = principal_scope(user)
            if scope is not None:
                self.user, self.session_key, self.scope = user, key, scope

    @property
    def kind(self):
        return self.scope.kind if self.scope else None

    @property
    def account(self):
        return self.scope.account if self.kind == 'customer' else None

    @property
    def brand(self):
        if self._brand is None:
            self._brand = branding.resolve(self.request.host, self)
        return self._brand

    # --- CSRF ------------------------------------------------------------

    @property
    def csrf_token(self):
        """Signed in: derived from the session key (secret, HttpOnly), so
        it needs no storage and dies with the session. Anonymous: a random
        value also set as a cookie (double submit)."""
        if self.session_key:
            return hmac.new(self.session_key.encode(), b'portal-csrf',
                hashlib.sha256).hexdigest()
        token = self.request.cookies.get(ANONYMOUS_CSRF_COOKIE)
        if not token:
            token = secrets.token_hex(16)
            self.request.cookies = dict(self.request.cookies)
            self.request.cookies[ANONYMOUS_CSRF_COOKIE] = token
            self.new_cookies.append((ANONYMOUS_CSRF_COOKIE, token, None))
        return token

    def check_csrf(self):
        sent = self.request.form.get('csrf_token', '')
        expected = (
            self.csrf_token if (self.session_key
                or self.request.cookies.get(ANONYMOUS_CSRF_COOKIE))
            else None)
        if not expected or not hmac.compare_digest(sent, expected):
            raise Forbidden(
                "The form has expired or did not come from this portal: "
                "reload the page and send it again.")

    # --- responses -------------------------------------------------------

    def render(self, template, status=200, **values):
        body = self.portal.jinja.get_template(template).render(
            ctx=self, brand=self.brand, request=self.request, **values)
        return Response(body, status=status, mimetype='text/html')

    def undo(self):
        """Roll back what the request wrote so far (a refused write), and
        again at its end: the page that explains it reads a clean state,
        also on PostgreSQL after a failed statement."""
        transaction = Transaction()
        transaction.rollback()
        transaction.cache.clear()
        self.discard = True

    def form_error(self, template, errors, **values):
        "Show a form again with its errors; nothing it wrote is kept"
        self.undo()
        return self.render(template, status=400, errors=errors, **values)

    def redirect(self, path, **params):
        if params:
            path += '?' + urlencode(params)
        return redirect(path, code=303)


class RecordId(IntegerConverter):
    """The id of a record in a path: a number the databases hold (a
    PostgreSQL integer); a larger one matches no route (404) instead of
    failing in the database (500)"""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault('max', 2 ** 31 - 1)
        super().__init__(map, *args, **kwargs)


def selection_word(record, name):
    """The label of ``record``'s selection field ``name`` ("PBX" for pbx):
    pages show the operator's words, never stored codes"""
    value = getattr(record, name)
    return dict(record._fields[name].selection).get(value, value)


class Portal:
    "The WSGI application of one database"

    def __init__(self, database, secure_cookies=True, max_body=None):
        # Import the handlers: they fill ROUTES.
        from trytond.config import config

        from . import (  # noqa: F401
            views_customer, views_password, views_public, views_reseller,
            views_signup)
        self.database = database
        self.secure_cookies = secure_cookies
        # The largest request body (a rate deck upload is the largest):
        # refused with 413 before anything is read or written.
        self.max_body = max_body or config.getint(
            'telecom_portal', 'max_body', default=MAX_BODY)
        self.views = {}
        rules = []
        for path, endpoint, methods, kind, func in ROUTES:
            rules.append(Rule(path, endpoint=endpoint, methods=methods))
            self.views[endpoint] = (kind, func)
        self.url_map = Map(rules, strict_slashes=False,
            converters={'int': RecordId})
        self.jinja = Environment(
            loader=FileSystemLoader(str(HERE / 'templates')),
            autoescape=select_autoescape(
                default=True, default_for_string=True),
            trim_blocks=True, lstrip_blocks=True)
        self.jinja.filters['money'] = branding.money
        self.jinja.filters['word'] = selection_word
        self.jinja.filters['duration'] = branding.duration
        self.jinja.filters['local_time'] = branding.local_time
        self.jinja.globals['time_zone'] = branding.time_zone
        self.jinja.globals['call_digits'] = branding.call_digits
        self.jinja.globals['status_of'] = branding.invoice_status
        self.jinja.globals['due_date_of'] = branding.due_date
        self.jinja.globals['masked'] = masked_iban

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_form_memory_size = 8 * 1024 * 1024
        # Bounds a body sent without a Content-Length (chunked) too: the
        # form parser stops at the limit. werkzeug reads the whole body
        # (up to its Content-Length) whatever the segments it comes in.
        request.max_content_length = self.max_body
        if (request.content_length or 0) > self.max_body:
            response = RequestEntityTooLarge(
                f"The request is larger than {self.max_body} bytes."
                ).get_response()
        else:
            response = self.handle(request)
        response.headers.setdefault('X-Content-Type-Options', 'nosniff')
        response.headers.setdefault('Referrer-Policy', 'same-origin')
        response.headers.setdefault('X-Frame-Options', 'DENY')
        response.headers.setdefault(
            'Content-Security-Policy',
            "default-src 'self'; img-src 'self' data:; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        return response(environ, start_response)

    def handle(self, request):
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exception:
            return exception.get_response()
        kind, func = self.views[endpoint]
        if endpoint == 'app.static':
            # Files only: no database, no session. A missing file is a
            # 404, not an error of the server.
            try:
                return func(None, **args)
            except HTTPException as exception:
                return exception.get_response()
        context = {
            '_request': {'remote_addr': request.remote_addr},
            'language': 'en',
            }
        extras = {}
        while True:
            try:
                return self.respond(request, kind, func, args, context, extras)
            except TransactionError as error:
                # A table lock or row locks asked for: start again holding
                # them, as trytond's own dispatcher does.
                error.fix(extras)

    def respond(self, request, kind, func, args, context, extras):
        with Transaction().start(
                self.database, 0, context=context, **extras) as transaction:
            ctx = Context(self, request)
            try:
                ctx.load_session()
                response = self.authorize(ctx, kind, request)
                if response is None:
                    if request.method == 'POST':
                        ctx.check_csrf()
                    response = func(ctx, **args)
            except HTTPException as exception:
                ctx.undo()
                response = self.error_page(ctx, exception)
            except (UserError, UserWarning) as exception:
                # A rule of the ERP refused what the form asked: say why.
                ctx.undo()
                response = ctx.render(
                    'error.html', status=400, code=400,
                    message=exception.message)
            if ctx.discard:
                transaction.rollback()
                transaction.tasks.clear()
            tasks = list(transaction.tasks)
            transaction.tasks.clear()
        # As trytond's dispatcher without a queue worker: what the request
        # queued (an invoice's state after a reconciliation) runs once the
        # request is committed, each task in a transaction of its own.
        for task_id in tasks:
            run_task(Pool(self.database), task_id)
        for name, value, max_age in ctx.new_cookies:
            self.set_cookie(response, name, value, max_age)
        response.headers.setdefault('Cache-Control', 'no-store')
        return response

    def authorize(self, ctx, kind, request):
        "None when the principal may open the page, else the response"
        if kind == 'public':
            return None
        if ctx.kind is None:
            if request.method == 'GET':
                return ctx.redirect('/login', next=request.full_path
                    if request.query_string else request.path)
            raise Forbidden("Sign in first.")
        if kind == 'signed-in' or kind == ctx.kind:
            return None
        raise Forbidden("This page is not part of your portal.")

    def error_page(self, ctx, exception):
        try:
            return ctx.render(
                'error.html', status=exception.code, code=exception.code,
                message=exception.description)
        except Exception:
            logger.exception("error page")
            return exception.get_response()

    def set_cookie(self, response, name, value, max_age=None):
        response.set_cookie(
            name, value, max_age=max_age, path='/', httponly=True,
            secure=self.secure_cookies, samesite='Lax')

    def delete_cookie(self, response, name):
        response.delete_cookie(
            name, path='/', httponly=True, secure=self.secure_cookies,
            samesite='Lax')


@route('/static/<path:filename>', 'public')
def static(ctx, filename):
    folder = HERE / 'static'
    path = (folder / filename).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise NotFound()
    response = Response(path.read_bytes(), mimetype={
            '.css': 'text/css', '.svg': 'image/svg+xml',
            }.get(path.suffix, 'application/octet-stream'))
    response.headers['Cache-Control'] = 'public, max-age=3600'
    return response
