"""Pages anyone reaches: log-in, log-out, the brand's logo, the home
redirect."""
from sql import Null
from sql.aggregate import Count

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from trytond.config import config
from trytond.pool import Pool
from trytond.transaction import Transaction

from .app import SESSION_COOKIE, route
from .forms import read, text
from .scope import principal_scope

# Failed log-ins allowed per address and log-in name in the window, then
# refused until the window passes (the attempts live in the database, so
# every portal process counts the same ones).
MAX_ATTEMPTS = 5


def attempt_window():
    "Seconds a failed log-in counts for (trytond's [session] timeout)"
    return config.getint('session', 'timeout', default=600)


def failed_attempts(email, ip):
    Attempt = Pool().get('web.user.authenticate.attempt')
    table = Attempt.__table__()
    cursor = Transaction().connection.cursor()
    where = ((table.login == email[:512])
        & (table.create_date >= Attempt.delay()))
    where &= (table.ip_address == ip) if ip else (
        table.ip_address == Null)
    cursor.execute(*table.select(Count(table.id), where=where))
    return cursor.fetchone()[0]


def safe_next(value):
    """Only a path of this site: never //host or http://host (open
    redirect) — nor /<tab>/host: browsers drop tabs and line breaks from
    a URL and read a backslash as a slash, so a path holding any space,
    control character or backslash is refused"""
    if (value and value.startswith('/') and not value.startswith('//')
            and value.isprintable()
            and not any(c.isspace() or c == '\\' for c in value)):
        return value
    return '/'


def sign_in(ctx, user, next_):
    Session = Pool().get('web.user.session')
    key = Session.add(user)
    response = ctx.redirect(safe_next(next_))
    ctx.portal.set_cookie(response, SESSION_COOKIE, key)
    return response


@route('/login', 'public', methods=('GET', 'POST'))
def login(ctx):
    pool = Pool()
    WebUser = pool.get('web.user')
    Attempt = pool.get('web.user.authenticate.attempt')
    form = ctx.request.form
    next_ = safe_next(
        form.get('next') or ctx.request.args.get('next') or '/')
    if ctx.request.method == 'GET':
        if ctx.kind:
            return ctx.redirect(next_)
        return ctx.render('login.html', errors={}, email='', next=next_)
    values, errors = read(form, {
            'email': lambda f, n: text(f, n, required=True).lower(),
            'password': lambda f, n: text(
                f, n, required=True, max_length=1024),
            })
    if errors:
        return ctx.form_error('login.html', errors,
            email=form.get('email', ''), next=next_)
    email = values['email']
    ip = ctx.request.remote_addr
    if failed_attempts(email, ip) >= MAX_ATTEMPTS:
        minutes = max(1, attempt_window() // 60)
        return ctx.render('login.html', status=429, errors={
                '': "Too many failed log-ins for this e-mail from your "
                f"address: try again in {minutes} minutes, or reset "
                "your password."}, email=email, next=next_)
    users = WebUser.search([('email', '=', email)])
    if users:
        user, = users
        valid, new_hash = WebUser.check_password(
            values['password'], user.password_hash)
        if valid and not user.email_valid:
            return ctx.render('login.html', status=400, errors={
                    'email': "Confirm this e-mail first: open the link we "
                    "sent to it."}, email=email, next=next_)
        if valid and principal_scope(user) is not None:
            if new_hash:
                WebUser.write([user], {'password_hash': new_hash})
            Attempt.remove(email)
            return sign_in(ctx, user, next_)
    Attempt.add(email)
    # One message whatever was wrong: it must not tell which e-mails exist.
    return ctx.render('login.html', status=400, errors={
            'password': "This e-mail and password do not match an "
            "account."}, email=email, next=next_)


@route('/logout', 'signed-in', methods=('POST',))
def logout(ctx):
    Session = Pool().get('web.user.session')
    Session.remove(ctx.session_key)
    response = ctx.redirect('/login')
    ctx.portal.delete_cookie(response, SESSION_COOKIE)
    return response


@route('/', 'signed-in')
def home(ctx):
    if ctx.kind == 'reseller':
        return ctx.redirect('/reseller/customers')
    return ctx.redirect('/account')


@route('/brand/logo', 'public')
def brand_logo(ctx):
    "The logo of the brand of this request (no id: nothing to guess)"
    from .brand import brand_record
    record = brand_record(ctx.request.host, ctx)
    if record is None or not record.logo:
        raise NotFound()
    mimetype = record.logo_type or 'application/octet-stream'
    response = Response(bytes(record.logo), mimetype=mimetype)
    if mimetype == 'image/svg+xml':
        # An SVG can hold script: never run it in the portal's origin.
        response.headers['Content-Security-Policy'] = (
            "default-src 'none'; style-src 'unsafe-inline'; sandbox")
    return response
