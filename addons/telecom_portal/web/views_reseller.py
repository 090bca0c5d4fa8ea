"""A reseller's pages (F8–F10, F30, F35): its customers, its rate plans,
its invoices to its customers. Nothing here names or prices anything of
the reseller's parent (F2)."""
import datetime as dt
from decimal import Decimal

from werkzeug.exceptions import BadRequest

from trytond.exceptions import UserError
from trytond.modules.telecom_base.account import BILLING_MODES, FLAVOURS

from .app import route
from .logo import MAX_SIZE as MAX_LOGO
from .documents import download
from .mail import NotSent
from .forms import (
    ADDRESS, address, amount, choice, countries, home_country, read,
    record_id, text)
from .views_customer import (
    call_filters, format_cursor, invoice_list, parse_cursor)


# Concurrent-call limits of an account (telecom_switch's fields, when
# call control is activated): name → label.
CALL_LIMITS = [
    ('max_inbound', "Inbound calls at once"),
    ('max_outbound', "Outbound calls at once"),
    ('max_total', "Calls at once in all"),
    ]


def call_limits_available():
    from trytond.pool import Pool
    return 'max_total' in Pool().get('telecom.account')._fields


def call_limit(form, name):
    "A whole number of calls from 0 to 10,000, or None (no limit)"
    from .forms import whole_number
    return whole_number(form, name, 0, 10000, required=False,
        message="A whole number of calls from 0 to 10000, or empty for no "
        "limit.")


def customer_form(ctx, account=None, errors=None, status=200, values=None):
    return ctx.render('reseller_customer.html', status=status,
        account=account, plans=ctx.scope.plans(), errors=errors or {},
        values=values or {}, flavours=FLAVOURS, billing_modes=BILLING_MODES,
        call_limits=CALL_LIMITS if call_limits_available() else [],
        countries=[] if account else countries(),
        default_country=home_country(ctx.scope.company_id))


@route('/reseller/customers', 'reseller')
def customers(ctx):
    search = (ctx.request.args.get('q') or '').strip()[:100]
    return ctx.render('reseller_customers.html',
        customers=ctx.scope.customers(search), search=search)


@route('/reseller/customers/new', 'reseller', methods=('GET', 'POST'))
def new_customer(ctx):
    if ctx.request.method == 'GET':
        return customer_form(ctx)
    form = ctx.request.form
    values, errors = read(form, {
            'name': lambda f, n: text(f, n, required=True),
            'email': lambda f, n: text(f, n, max_length=320),
            'flavour': lambda f, n: choice(f, n, FLAVOURS),
            'billing_mode': lambda f, n: choice(f, n, BILLING_MODES),
            'credit_limit': lambda f, n: amount(f, n, minimum=Decimal(0)),
            'plan': record_id,
            **ADDRESS,
            })
    if values.get('email') and '@' not in values['email']:
        errors['email'] = "Write an e-mail address, e.g. ann@example.com."
    if values.get('plan') and values['plan'] not in {
            p.id for p in ctx.scope.plans()}:
        errors['plan'] = "Choose one of your plans."
    if errors:
        ctx.undo()
        return customer_form(ctx, errors=errors, status=400, values=form)
    account = ctx.scope.create_customer(
        values['name'], values['email'], values['flavour'],
        values['billing_mode'], values['credit_limit'], values['plan'],
        address(values))
    return ctx.redirect(f'/reseller/customers/{account.id}', done='created')


@route('/reseller/customers/<int:account_id>', 'reseller',
    methods=('GET', 'POST'))
def customer(ctx, account_id):
    account = ctx.scope.customer(account_id)
    if ctx.request.method == 'GET':
        return customer_form(ctx, account)
    form = ctx.request.form
    readers = {
        'credit_limit': lambda f, n: amount(f, n, minimum=Decimal(0)),
        'plan': record_id,
        }
    limits = [name for name, _ in CALL_LIMITS] if (
        call_limits_available()) else []
    readers.update({name: call_limit for name in limits})
    values, errors = read(form, readers)
    if values.get('plan') and values['plan'] not in {
            p.id for p in ctx.scope.plans()}:
        errors['plan'] = "Choose one of your plans."
    if errors:
        ctx.undo()
        return customer_form(ctx, account, errors, 400, form)
    ctx.scope.update_customer(
        account.id, values['credit_limit'], values['plan'] or 0,
        {name: values[name] for name in limits})
    return ctx.redirect(f'/reseller/customers/{account.id}', done='saved')


@route('/reseller/customers/<int:account_id>/suspend', 'reseller',
    methods=('POST',))
def suspend_customer(ctx, account_id):
    ctx.scope.set_customer_state(account_id, 'suspended')
    return ctx.redirect(f'/reseller/customers/{account_id}', done='suspended')


@route('/reseller/customers/<int:account_id>/activate', 'reseller',
    methods=('POST',))
def activate_customer(ctx, account_id):
    ctx.scope.set_customer_state(account_id, 'active')
    return ctx.redirect(f'/reseller/customers/{account_id}', done='activated')


@route('/reseller/customers/<int:account_id>/calls', 'reseller')
def customer_calls(ctx, account_id):
    account = ctx.scope.customer(account_id)
    filters, errors = call_filters(ctx)
    after = parse_cursor(ctx.request.args.get('after'))
    rows, next_ = ([], None) if errors else ctx.scope.calls(
        account.id, filters, after)
    args = {k: v for k, v in ctx.request.args.items()
        if k in {'start', 'end', 'number'} and v}
    return ctx.render('calls.html', status=400 if errors else 200,
        rows=rows, errors=errors, args=args, first_page=after is None,
        next_cursor=format_cursor(next_), account=account)


@route('/reseller/plans', 'reseller')
def plans(ctx):
    return ctx.render('reseller_plans.html', plans=ctx.scope.plans())


@route('/reseller/plans/signup', 'reseller', methods=('POST',))
def signup_plans(ctx):
    form = ctx.request.form
    ids = set()
    for value in form.getlist('signup'):
        if not value.isdigit():
            raise BadRequest("Choose plans from the list.")
        ids.add(int(value))
    # Ids of plans that are not the reseller's are ignored by the scope.
    ctx.scope.set_signup(ids)
    return ctx.redirect('/reseller/plans', done='signup')


@route('/reseller/plans/<int:plan_id>', 'reseller', methods=('GET', 'POST'))
def plan(ctx, plan_id):
    plan = ctx.scope.plan(plan_id)
    groups = ctx.scope.destination_groups()
    if ctx.request.method == 'GET':
        return ctx.render('reseller_plan.html', plan=plan, groups=groups,
            errors={})
    form = ctx.request.form
    values, errors = read(form, {
            'group': record_id,
            'percent': lambda f, n: amount(f, n, required=True,
                minimum=Decimal(0)),
            'per_minute': lambda f, n: amount(f, n, minimum=Decimal(0),
                places=6),
            })
    if values.get('group') and values['group'] not in {g.id for g in groups}:
        errors['group'] = "Choose one of the destination groups."
    if errors:
        return ctx.form_error('reseller_plan.html', errors, plan=plan,
            groups=groups)
    ctx.scope.set_markup(plan.id, values['group'], values['percent'],
        values['per_minute'] or Decimal(0))
    return ctx.redirect(f'/reseller/plans/{plan.id}', done='markup')


@route('/reseller/plans/<int:plan_id>/rates.csv', 'reseller')
def export_rates(ctx, plan_id):
    plan = ctx.scope.plan(plan_id)
    content = ctx.scope.export_rates(plan.id, 'csv')
    if isinstance(content, str):
        content = content.encode('utf-8')
    return download(content, f'rates-{plan.id}.csv', 'text/csv')


@route('/reseller/plans/<int:plan_id>/import', 'reseller', methods=('POST',))
def import_rates(ctx, plan_id):
    plan = ctx.scope.plan(plan_id)
    groups = ctx.scope.destination_groups()
    upload = ctx.request.files.get('deck')
    if upload is None or not upload.filename:
        return ctx.form_error('reseller_plan.html',
            {'deck': "Choose a CSV or XLSX file."}, plan=plan, groups=groups)
    replace = ctx.request.form.get('replace') == 'on'
    from trytond.exceptions import UserError
    try:
        ctx.scope.import_rates(
            plan.id, upload.read(), upload.filename, replace=replace)
    except UserError as exception:
        return ctx.form_error('reseller_plan.html',
            {'deck': exception.message}, plan=plan, groups=groups)
    return ctx.redirect(f'/reseller/plans/{plan.id}', done='imported')


@route('/reseller/invoices', 'reseller')
def invoices(ctx):
    return invoice_list(
        ctx, ctx.scope, 'invoices.html', today=dt.date.today())


def invoice_refused(ctx, invoice_id, message):
    """The invoice list again, saying in the invoice's row why what the
    reseller asked for it was not done; nothing it wrote is kept"""
    ctx.undo()
    response = invoice_list(ctx, ctx.scope, 'invoices.html',
        today=dt.date.today(), refused={invoice_id: message})
    response.status_code = 400
    return response


@route('/reseller/invoices/<int:invoice_id>/paid', 'reseller',
    methods=('POST',))
def mark_paid(ctx, invoice_id):
    from .forms import date
    values, errors = read(ctx.request.form, {'date': date})
    if errors:
        return invoice_refused(ctx, invoice_id,
            f"Received on: {errors['date']}")
    try:
        ctx.scope.mark_paid(invoice_id, values['date'])
    except UserError as exception:
        return invoice_refused(ctx, invoice_id, exception.message)
    return ctx.redirect('/reseller/invoices', done='paid')


@route('/reseller/invoices/<int:invoice_id>/remind', 'reseller',
    methods=('POST',))
def remind(ctx, invoice_id):
    try:
        ctx.scope.send_reminder(invoice_id)
    except UserError as exception:
        return invoice_refused(ctx, invoice_id, exception.message)
    except NotSent as exception:
        return invoice_refused(ctx, invoice_id,
            f"The reminder was not sent: {exception}. Try again later.")
    return ctx.redirect('/reseller/invoices', done='reminded')


BRAND_FIELDS = [
    ('name', "Brand name"), ('primary_colour', "Main colour"),
    ('secondary_colour', "Highlight colour"),
    ('support_email', "Support e-mail"), ('support_phone', "Support phone"),
    ('email_from', "Sender of e-mails"),
    ]


def colour(form, name):
    from .brand import COLOUR
    from .forms import Invalid
    value = text(form, name, required=True, max_length=50).lower()
    if not COLOUR.match(value):
        raise Invalid("Write the colour as #rrggbb, e.g. #3f51b5.")
    return value


def email_address(form, name):
    "An e-mail address, optionally with a name: Ann <ann@example.com>"
    from email.utils import parseaddr

    from .forms import Invalid
    value = text(form, name, max_length=320)
    if value and '@' not in parseaddr(value)[1]:
        raise Invalid("Write an e-mail address, e.g. "
            "Bluebell <billing@bluebell.example>.")
    return value or None


@route('/reseller/brand', 'reseller', methods=('GET', 'POST'))
def brand(ctx):
    """The reseller's brand: name, colours, logo, support contacts and
    the sender of its e-mails (F34)"""
    from .logo import Refused, read_logo
    record = ctx.scope.brand()
    if ctx.request.method == 'GET':
        return ctx.render('reseller_brand.html', errors={}, record=record,
            fields=BRAND_FIELDS, form={})
    values, errors = read(ctx.request.form, {
            'name': lambda f, n: text(f, n, required=True, max_length=100),
            'primary_colour': colour, 'secondary_colour': colour,
            'support_email': email_address,
            'support_phone': lambda f, n: text(f, n, max_length=40) or None,
            'email_from': email_address,
            })
    upload = ctx.request.files.get('logo')
    if upload and upload.filename:
        try:
            values['logo'], values['logo_type'] = read_logo(
                upload.filename, upload.read(MAX_LOGO + 1))
        except Refused as exception:
            errors['logo'] = str(exception)
    if errors:
        return ctx.form_error('reseller_brand.html', errors, record=record,
            fields=BRAND_FIELDS, form=ctx.request.form)
    ctx.scope.save_brand(values)
    return ctx.redirect('/reseller/brand', done='brand')


@route('/reseller/numbers', 'reseller')
def numbers(ctx):
    "The reseller's numbers (DIDs) and, for each available one, an assign"
    scope = ctx.scope
    return ctx.render('reseller_numbers.html', errors={},
        available=scope._inventory() is not None, numbers=scope.numbers(),
        customers=scope.customers())


@route('/reseller/numbers/<int:number_id>/assign', 'reseller',
    methods=('POST',))
def assign_number(ctx, number_id):
    ctx.scope.number(number_id)  # another tenant's: 404 before the form
    values, errors = read(ctx.request.form, {
            'account': lambda f, n: record_id(f, n, required=True)})
    if errors:
        return ctx.form_error('reseller_numbers.html', errors,
            available=True, numbers=ctx.scope.numbers(),
            customers=ctx.scope.customers())
    ctx.scope.assign_number(number_id, values['account'])
    return ctx.redirect('/reseller/numbers', done='number-assigned')


@route('/reseller/numbers/<int:number_id>/release', 'reseller',
    methods=('POST',))
def release_number(ctx, number_id):
    ctx.scope.release_number(number_id)
    return ctx.redirect('/reseller/numbers', done='number-released')


# A portal request draws at most this many codes (the back office more).
MAX_VOUCHERS = 10000


@route('/reseller/vouchers', 'reseller', methods=('GET', 'POST'))
def vouchers(ctx):
    "The reseller's voucher batches, and a new one generated (F32)"
    from .forms import Invalid, date, whole_number
    scope = ctx.scope
    available = scope._batches() is not None
    values = {'available': available, 'maximum': MAX_VOUCHERS,
        'currency': scope.company.currency}
    if ctx.request.method == 'GET' or not available:
        return ctx.render('reseller_vouchers.html', errors={},
            batches=scope.voucher_batches(), **values)

    def expiry(form, name):
        value = date(form, name)
        if value is None:
            raise Invalid("Fill this in.")
        if value < dt.date.today():
            raise Invalid("The expiry is in the past.")
        return value
    data, errors = read(ctx.request.form, {
            'name': lambda f, n: text(f, n, required=True, max_length=100),
            'value': lambda f, n: amount(f, n, required=True,
                minimum=Decimal('0.01'), places=scope.company.currency.digits),
            'expiry': expiry,
            'quantity': lambda f, n: whole_number(f, n, 1, MAX_VOUCHERS)})
    if errors:
        return ctx.form_error('reseller_vouchers.html', errors,
            batches=scope.voucher_batches(), **values)
    batch = scope.create_voucher_batch(
        data['name'], data['value'], data['expiry'], data['quantity'])
    return ctx.redirect('/reseller/vouchers', done='vouchers',
        batch=batch.id)


@route('/reseller/vouchers/<int:batch_id>.csv', 'reseller')
def vouchers_csv(ctx, batch_id):
    batch, data = ctx.scope.voucher_csv(batch_id)
    return download(data, f'vouchers-{batch.id}.csv', 'text/csv')


@route('/reseller/profile', 'reseller')
def profile(ctx):
    return ctx.render('reseller_profile.html', errors={})
