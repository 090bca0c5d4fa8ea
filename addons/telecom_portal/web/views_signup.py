"""Self-service sign-up (F35): choose a plan the brand offers, give the
account's details, validate the e-mail, then top up (prepaid).

The brand of the request (its Host) says whose customer the new account
is: the plans offered are those of the brand's tenant ticked "offered on
sign-up" by that tenant (its reseller pages)."""
from werkzeug.exceptions import BadRequest, NotFound

from trytond.pool import Pool
from trytond.transaction import Transaction

from .app import route
from .forms import (
    ADDRESS, address, choice, countries, home_country, new_password, read,
    record_id, text)
from .mail import NotSent, branded, send_now
from .views_public import sign_in

SIGNUP_FLAVOURS = [
    ('residential', "Home phone lines"),
    ('pbx', "Business PBX"),
    ('wholesale', "Wholesale trunk"),
    ]
SIGNUP_BILLING = [
    ('prepaid', "Prepaid: top up, then call"),
    ('postpaid', "Postpaid: invoiced monthly, by direct debit"),
    ]


def offered_plans(ctx):
    "The plans of the brand's tenant offered on sign-up"
    Plan = Pool().get('telecom.rate.plan')
    company = ctx.brand.company
    if company is None:
        return []
    return Plan.search([
            ('company', '=', company),
            ('signup', '=', True),
            ], order=[('name', 'ASC')])


def email(form, name):
    value = text(form, name, required=True, max_length=320).lower()
    local, _, domain = value.partition('@')
    if not local or '.' not in domain:
        from .forms import Invalid
        raise Invalid("Write an e-mail address, e.g. ann@example.com.")
    return value


@route('/signup', 'public', methods=('GET', 'POST'))
def signup(ctx):
    pool = Pool()
    WebUser = pool.get('web.user')
    Party = pool.get('party.party')
    Account = pool.get('telecom.account')
    Company = pool.get('company.company')
    plans = offered_plans(ctx)
    if not plans:
        raise NotFound("Sign-up is not offered on this site.")
    values = {'flavours': SIGNUP_FLAVOURS, 'billing_modes': SIGNUP_BILLING,
        'plans': plans, 'form': ctx.request.form, 'countries': countries(),
        'default_country': home_country(ctx.brand.company)}
    if ctx.request.method == 'GET':
        return ctx.render('signup.html', errors={}, **values)
    form = ctx.request.form
    data, errors = read(form, {
            'plan': lambda f, n: record_id(f, n, required=True),
            'name': lambda f, n: text(f, n, required=True),
            'email': email,
            'password': new_password,
            'flavour': lambda f, n: choice(f, n, SIGNUP_FLAVOURS),
            'billing_mode': lambda f, n: choice(f, n, SIGNUP_BILLING),
            **ADDRESS,
            })
    if data.get('plan') and data['plan'] not in {p.id for p in plans}:
        errors['plan'] = "Choose one of the plans offered."
    if data.get('email') and WebUser.search([('email', '=', data['email'])]):
        errors['email'] = (
            "This e-mail already has an account: sign in instead.")
    if errors:
        return ctx.form_error('signup.html', errors, **values)
    company = Company(ctx.brand.company)
    with Transaction().set_context(company=company.id):
        party, = Party.create([{
                    'name': data['name'],
                    'contact_mechanisms': [('create', [
                                {'type': 'email', 'value': data['email']}])],
                    'addresses': [('create', [address(data)])],
                    }])
        account, = Account.create([{
                    'party': party.id, 'company': company.id,
                    'flavour': data['flavour'],
                    'billing_mode': data['billing_mode'],
                    'currency': company.currency.id,
                    'rate_plans': [('add', [data['plan']])],
                    }])
    user, = WebUser.create([{
                'email': data['email'], 'password': data['password'],
                'party': party.id, 'telecom_account': account.id,
                }])
    url = ctx.request.host_url + 'signup/validate'
    with Transaction().set_context(portal_validation_url=url):
        user.set_email_token()
        user.save()
        msg, title = user.get_email_validation()
    try:
        send_now(branded(msg, ctx.brand, user.email, title))
    except NotSent as exception:
        # Nothing is kept: the customer signs up again, not half-way.
        errors['email'] = (f"We could not send the confirmation e-mail "
            f"just now: {exception}. Nothing was created; please try "
            "again in a few minutes.")
        return ctx.form_error('signup.html', errors, **values)
    return ctx.redirect('/signup/sent')


@route('/signup/sent', 'public')
def signup_sent(ctx):
    return ctx.render('signup_sent.html')


@route('/signup/validate', 'public')
def validate_email(ctx):
    WebUser = Pool().get('web.user')
    token = ctx.request.args.get('token', '')
    if not token or len(token) > 128:
        raise BadRequest("This link is incomplete: open it from the e-mail.")
    users = WebUser.validate_email_token([token])
    if len(users) != 1:
        raise BadRequest(
            "This link was already used or has expired: sign in.")
    user, = users
    # The first payment step: a top-up (prepaid), a direct-debit mandate
    # (postpaid) where telecom_payment offers them.
    from .payments import mandates_available
    next_ = '/account'
    if user.telecom_account and (
            user.telecom_account.billing_mode == 'prepaid'):
        next_ = '/top-up'
    elif user.telecom_account and mandates_available():
        next_ = '/direct-debit'
    return sign_in(ctx, user, next_)
