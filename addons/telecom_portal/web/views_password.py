"""A forgotten password: the customer or reseller asks on its brand's site
for a link, e-mailed at once (the page says if it could not be sent); the
link sets a new password once, within [session] web_timeout_reset seconds
(24 hours by default; web_user's token). A site resets only the log-ins of
its tenant and of the tenants below it: another tenant's log-in is treated
as unknown."""
from trytond.pool import Pool
from trytond.transaction import Transaction

from .app import route
from .forms import new_password, read
from .mail import NotSent, branded, send_now
from .views_signup import email as email_reader


def serves(brand, user):
    """Whether the site of ``brand`` may reset ``user``'s password: the log-ins
    of its tenant and of the tenants below it"""
    Company = Pool().get('company.company')
    if user.telecom_account:
        tenant = user.telecom_account.company
    else:
        tenant = user.reseller
    if tenant is None:
        return False
    if brand.company is None or tenant.id == brand.company:
        return True
    return bool(Company.search([
                ('id', '=', tenant.id),
                ('parent', 'child_of', [brand.company]),
                ]))


def log_in_of(ctx, email):
    "The web.user of ``email`` this site serves, or None"
    WebUser = Pool().get('web.user')
    users = WebUser.search([('email', '=', email)])
    if users and serves(ctx.brand, users[0]):
        return users[0]


@route('/password/forgot', 'public', methods=('GET', 'POST'))
def forgot(ctx):
    if ctx.request.method == 'GET':
        return ctx.render('password_forgot.html', errors={}, email='')
    values, errors = read(ctx.request.form, {'email': email_reader})
    if errors:
        return ctx.form_error('password_forgot.html', errors,
            email=ctx.request.form.get('email', ''))
    user = log_in_of(ctx, values['email'])
    if user is not None:
        user.set_reset_password_token()
        user.save()
        url = ctx.request.host_url + 'password/reset'
        with Transaction().set_context(portal_reset_url=url):
            msg, title = user.get_email_reset_password()
        try:
            send_now(branded(msg, ctx.brand, user.email, title))
        except NotSent as exception:
            return ctx.form_error('password_forgot.html', {
                    'email': "We could not send the e-mail just now: "
                    f"{exception}. Please try again in a few minutes."},
                email=values['email'])
    # The same answer whether the e-mail has a log-in here or not.
    return ctx.redirect('/login', done='reset-sent')


@route('/password/reset', 'public', methods=('GET', 'POST'))
def reset(ctx):
    pool = Pool()
    WebUser = pool.get('web.user')
    source = ctx.request.form if ctx.request.method == 'POST' else (
        ctx.request.args)
    link = {'email': (source.get('email') or '')[:320].lower(),
        'token': (source.get('token') or '')[:128]}
    if ctx.request.method == 'GET':
        return ctx.render('password_reset.html', errors={}, **link)
    values, errors = read(ctx.request.form, {'password': new_password})
    if errors:
        return ctx.form_error('password_reset.html', errors, **link)
    # Single use: web_user clears a matching token, expired or not, and
    # counts a wrong one against the e-mail (kept: it slows guessing).
    if not (link['token'] and log_in_of(ctx, link['email'])
            and WebUser.set_password_token(
                link['email'], link['token'], values['password'])):
        return ctx.render('password_reset.html', status=400, errors={
                '': "This link was already used or has expired: ask for a "
                "new one."}, **link)
    return ctx.redirect('/login', done='password-reset')
