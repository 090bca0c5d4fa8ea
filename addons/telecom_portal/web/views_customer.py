"""A customer's pages (F3, F5, F13, F30–F32): one portal in three flavours
chosen by the account's flavour — PBX, residential, wholesale/trunking."""
import datetime as dt

from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from trytond.exceptions import UserError
from trytond.pool import Pool

from trytond.modules.telecom_base.exceptions import ClaimConflictError

from . import documents, payments
from .app import route
from .chart import usage_svg
from .forms import date, number_filter, read, record_id, sip_address, text

INVOICE_STATUSES = [
    ('', "Any"), ('due', "Due"), ('overdue', "Overdue"), ('paid', "Paid"),
    ('cancelled', "Cancelled")]


def call_filters(ctx):
    "The filters of the call history, or a 400 naming the bad one"
    values, errors = read(ctx.request.args, {
            'start': date, 'end': date, 'number': number_filter})
    if errors:
        return values, errors
    if values['start'] and values['end'] and values['start'] > values['end']:
        errors['end'] = "The end is before the start."
    return values, errors


def parse_cursor(value):
    "The keyset cursor 'ISO-start_id' of the next page"
    if not value:
        return None
    try:
        start, id_ = value.rsplit('_', 1)
        return dt.datetime.fromisoformat(start), int(id_)
    except ValueError:
        raise BadRequest("The page link is damaged: start from page 1.")


def format_cursor(cursor):
    if cursor is None:
        return None
    start, id_ = cursor
    return f'{start.isoformat()}_{id_}'


@route('/account', 'customer')
def account(ctx):
    scope = ctx.scope
    account = scope.account
    template = {
        'pbx': 'account_pbx.html',
        'residential': 'account_residential.html',
        'wholesale': 'account_wholesale.html',
        }[account.flavour]
    values = {
        'account': account,
        'chart': usage_svg(scope.usage_by_day(30)),
        'movements': scope.balance_lines(5),
        }
    if account.flavour == 'wholesale':
        values['credentials'] = scope.credentials()
        values['live_calls'] = scope.live_calls()
        values['max_calls'] = scope.max_calls()
    else:
        values['lines'] = scope.lines()
        values['numbers'] = scope.numbers()
        values['sip_addresses'] = scope.sip_addresses()
    return ctx.render(template, **values)


@route('/calls', 'customer')
def calls(ctx):
    filters, errors = call_filters(ctx)
    after = parse_cursor(ctx.request.args.get('after'))
    rows, next_ = ([], None) if errors else ctx.scope.calls(filters, after)
    args = {k: v for k, v in ctx.request.args.items()
        if k in {'start', 'end', 'number'} and v}
    return ctx.render('calls.html', status=400 if errors else 200,
        rows=rows, errors=errors, args=args, first_page=after is None,
        next_cursor=format_cursor(next_), account=ctx.scope.account)


@route('/calls.csv', 'customer')
def calls_csv(ctx):
    filters, errors = call_filters(ctx)
    if errors:
        raise BadRequest('; '.join(f'{k}: {v}' for k, v in errors.items()))
    response = Response(ctx.scope.calls_csv(filters), mimetype='text/csv')
    response.headers['Content-Disposition'] = (
        f'attachment; filename="calls-{ctx.scope.account.code}.csv"')
    return response


def invoice_list(ctx, scope, template, **values):
    filters, errors = read(ctx.request.args, {
            'start': date, 'end': date,
            'status': lambda f, n: f.get(n) if f.get(n) in dict(
                INVOICE_STATUSES) else '',
            })
    invoices = [] if errors else scope.invoices(filters)
    return ctx.render(template, status=400 if errors else 200,
        invoices=invoices, errors=errors, statuses=INVOICE_STATUSES,
        args=ctx.request.args, **values)


@route('/invoices', 'customer')
def invoices(ctx):
    return invoice_list(ctx, ctx.scope, 'invoices.html')


@route('/invoices/<int:invoice_id>/pdf', 'signed-in')
def invoice_pdf(ctx, invoice_id):
    return documents.invoice_pdf(ctx.scope.invoice(invoice_id))


@route('/invoices/<int:invoice_id>/xml', 'signed-in')
def invoice_xml(ctx, invoice_id):
    return documents.invoice_ubl(ctx.scope.invoice(invoice_id))


@route('/sip-addresses', 'customer', methods=('GET', 'POST'))
def sip_addresses(ctx):
    errors, address = {}, ''
    if ctx.request.method == 'POST':
        values, errors = read(ctx.request.form, {'address': sip_address})
        address = ctx.request.form.get('address', '')
        if not errors:
            try:
                ctx.scope.add_sip_address(values['address'])
            except ClaimConflictError:
                # telecom_base names the holder when the *user* may see
                # it, and the portal runs as root: say it in neutral words
                # (F2), even when the holder is the customer's own tenant.
                errors['address'] = (
                    "This address is already used on the platform: "
                    "choose another.")
            except UserError as exception:
                errors['address'] = exception.message
            else:
                return ctx.redirect('/sip-addresses', done='added')
        ctx.undo()
    return ctx.render('sip_addresses.html', status=400 if errors else 200,
        addresses=ctx.scope.sip_addresses(), errors=errors, address=address)


@route('/sip-addresses/<int:address_id>/remove', 'customer',
    methods=('POST',))
def remove_sip_address(ctx, address_id):
    ctx.scope.remove_sip_address(address_id)
    return ctx.redirect('/sip-addresses', done='removed')


@route('/profile', 'customer')
def profile(ctx):
    return ctx.render('profile.html', errors={},
        currencies=ctx.scope.currencies(), account=ctx.scope.account)


@route('/profile/password', 'signed-in', methods=('POST',))
def change_password(ctx):
    pool = Pool()
    WebUser = pool.get('web.user')
    User = pool.get('res.user')
    form = ctx.request.form
    values, errors = read(form, {
            'current': lambda f, n: text(f, n, True, 1024),
            'new': lambda f, n: text(f, n, True, 1024),
            'repeat': lambda f, n: text(f, n, True, 1024),
            })
    user = ctx.user
    if not errors:
        valid, _ = WebUser.check_password(
            values['current'], user.password_hash)
        if not valid:
            errors['current'] = "This is not your current password."
        elif values['new'] != values['repeat']:
            errors['repeat'] = "The two new passwords differ."
        else:
            try:
                # The back office's password rules (length, forbidden
                # words); the portal runs as root, which skips them.
                User.validate_password(values['new'], [user])
            except Exception as exception:
                errors['new'] = getattr(exception, 'message', str(exception))
    template = 'profile.html' if ctx.kind == 'customer' else (
        'reseller_profile.html')
    extra = {'currencies': ctx.scope.currencies(),
        'account': ctx.scope.account} if ctx.kind == 'customer' else {}
    if errors:
        return ctx.form_error(template, errors, **extra)
    WebUser.write([user], {'password': values['new']})
    return ctx.redirect(
        '/profile' if ctx.kind == 'customer' else '/reseller/profile',
        done='password')


@route('/profile/currency', 'customer', methods=('POST',))
def change_currency(ctx):
    values, errors = read(ctx.request.form, {
            'currency': lambda f, n: record_id(f, n, required=True)})
    if not errors:
        try:
            ctx.scope.set_currency(values['currency'])
        except UserError as exception:
            # An account with money in its currency keeps it.
            errors['currency'] = exception.message
        else:
            return ctx.redirect('/profile', done='currency')
    return ctx.form_error('profile.html', errors,
        currencies=ctx.scope.currencies(), account=ctx.scope.account)


@route('/voucher', 'customer', methods=('GET', 'POST'))
def voucher(ctx):
    errors = {}
    if ctx.request.method == 'POST':
        values, errors = read(ctx.request.form, {
                'code': lambda f, n: text(f, n, True, 64)})
        if not errors:
            try:
                payments.redeem_voucher(ctx.scope.account, values['code'])
            except payments.Refused as exception:
                errors['code'] = str(exception)
            else:
                return ctx.redirect('/account', done='voucher')
        return ctx.form_error('voucher.html', errors,
            available=payments.vouchers_available())
    return ctx.render('voucher.html', errors=errors,
        available=payments.vouchers_available())


@route('/top-up', 'customer', methods=('GET', 'POST'))
def top_up(ctx):
    account = ctx.scope.account
    errors = {}
    if ctx.request.method == 'POST':
        from .forms import amount
        form = ctx.request.form
        values, errors = read(form, {
                'amount': lambda f, n: amount(
                    f, n, required=True, minimum=1, places=2)})
        if not errors:
            try:
                url = payments.start_top_up(
                    account, values['amount'],
                    nonce=form.get('payment_method_nonce'),
                    checkout_id=form.get('checkout_id'),
                    device_data=form.get('device_data'))
            except payments.Refused as exception:
                errors[exception.field] = str(exception)
            else:
                return ctx.redirect(url)
        ctx.undo()
        return top_up_page(ctx, account, errors, status=400)
    return top_up_page(ctx, account, errors)


def top_up_page(ctx, account, errors, status=200):
    "The top-up form, with a new checkout of the tenant's gateway"
    checkout = None
    if account.billing_mode == 'prepaid':
        try:
            checkout = payments.checkout(account)
        except payments.Refused as exception:
            errors.setdefault('', str(exception))
    response = ctx.render('top_up.html', status=status, errors=errors,
        account=account, checkout=checkout,
        available=payments.top_up_available())
    if checkout and checkout['script']:
        response.headers['Content-Security-Policy'] = payments.DROPIN_CSP
    return response


@route('/direct-debit', 'customer', methods=('GET', 'POST'))
def direct_debit(ctx):
    """The customer's SEPA direct-debit mandates with its provider, and a
    new one signed online (postpaid invoices, SEPA top-ups)"""
    account = ctx.scope.account
    values = {'account': account,
        'available': payments.mandates_available()}
    if ctx.request.method == 'GET' or not values['available']:
        return ctx.render('direct_debit.html', errors={},
            mandates=payments.mandates(account), **values)
    from .forms import Invalid

    def consent(form, name):
        if form.get(name) != 'yes':
            raise Invalid("Tick this box to sign the mandate.")
        return True
    data, errors = read(ctx.request.form, {
            'iban': payments.iban,
            'street': lambda f, n: text(f, n, True),
            'postal_code': lambda f, n: text(f, n, True, 20),
            'city': lambda f, n: text(f, n, True, 100),
            'consent': consent})
    if not errors:
        try:
            payments.sign_mandate(account, data['iban'], data['street'],
                data['postal_code'], data['city'])
        except UserError as exception:
            errors['iban'] = exception.message
        else:
            return ctx.redirect('/direct-debit', done='mandate')
    return ctx.form_error('direct_debit.html', errors,
        mandates=payments.mandates(account), **values)


@route('/shop', 'customer')
def shop(ctx):
    return ctx.render('shop.html', errors={}, available=bool(
            ctx.scope.shop()), offers=ctx.scope.shop_offers(),
        account=ctx.scope.account)


@route('/shop/order', 'customer', methods=('POST',))
def shop_order(ctx):
    from .forms import whole_number
    values, errors = read(ctx.request.form, {
            'product': lambda f, n: record_id(f, n, required=True),
            'quantity': lambda f, n: whole_number(f, n, 1, 100)})
    if not errors:
        try:
            ctx.scope.order(values['product'], values['quantity'])
        except UserError as exception:
            errors['quantity'] = exception.message
        else:
            return ctx.redirect('/account', done='ordered')
    # The error goes next to the quantity of the product ordered.
    return ctx.form_error('shop.html', errors,
        available=bool(ctx.scope.shop()), offers=ctx.scope.shop_offers(),
        ordered=values.get('product'), account=ctx.scope.account)
