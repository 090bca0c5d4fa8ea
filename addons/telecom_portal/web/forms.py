"""Reading what a form sent: each reader returns the value or raises
``Invalid`` with the message shown next to the field."""
import datetime as dt
from decimal import Decimal, InvalidOperation

from trytond.modules.telecom_base.numbering import normalize_sip_address
from trytond.pool import Pool


class Invalid(ValueError):
    pass


def text(form, name, required=False, max_length=200):
    value = (form.get(name) or '').strip()
    if required and not value:
        raise Invalid("Fill this in.")
    if len(value) > max_length:
        raise Invalid(f"At most {max_length} characters.")
    return value


def date(form, name):
    value = (form.get(name) or '').strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("Write the date as YYYY-MM-DD, e.g. 2026-03-31.")


def number_filter(form, name):
    "Digits of a number to look for in calls; +, spaces and dashes dropped"
    value = (form.get(name) or '').strip()
    digits = ''.join(c for c in value if c not in '+ -()')
    if digits and not digits.isdigit():
        raise Invalid("Only digits, e.g. 4420 or +44 20 7123.")
    return digits


def amount(form, name, required=False, minimum=None, places=4):
    value = (form.get(name) or '').strip()
    if not value:
        if required:
            raise Invalid("Fill this in.")
        return None
    try:
        result = Decimal(value.replace(',', ''))
    except InvalidOperation:
        raise Invalid("Write a number, e.g. 12.50.")
    if not result.is_finite():
        raise Invalid("Write a number, e.g. 12.50.")
    if minimum is not None and result < minimum:
        raise Invalid(f"At least {minimum}.")
    if -result.as_tuple().exponent > places:
        raise Invalid(f"At most {places} decimals.")
    return result


def whole_number(form, name, minimum, maximum, required=True,
        message=None):
    """A whole number from ``minimum`` (≥ 0) to ``maximum``; None when
    empty and not ``required``"""
    value = (form.get(name) or '').strip()
    if not value and not required:
        return None
    if not value.isdigit() or not minimum <= int(value) <= maximum:
        raise Invalid(
            message or f"A whole number from {minimum} to {maximum}.")
    return int(value)


def choice(form, name, choices, required=True):
    value = form.get(name) or ''
    if not value and not required:
        return None
    if value not in dict(choices):
        raise Invalid("Choose one of the options.")
    return value


def record_id(form, name, required=False):
    value = (form.get(name) or '').strip()
    if not value:
        if required:
            raise Invalid("Choose one of the options.")
        return None
    if not value.isdigit():
        raise Invalid("Choose one of the options.")
    return int(value)


def sip_address(form, name):
    value = text(form, name, required=True)
    try:
        return normalize_sip_address(value)
    except ValueError as exception:
        raise Invalid(str(exception))


def new_password(form, name):
    "A password the back office's rules accept (length, not the e-mail…)"
    from trytond.exceptions import UserError
    value = text(form, name, required=True, max_length=1024)
    try:
        Pool().get('res.user').validate_password(value, [])
    except UserError as exception:
        raise Invalid(exception.message)
    return value


def country(form, name):
    "A country of Tryton's list, sent as its ISO code; its id"
    Country = Pool().get('country.country')
    code = (form.get(name) or '').strip().upper()
    if not code:
        raise Invalid("Choose the country.")
    countries = Country.search([('code', '=', code)], limit=1)
    if not countries:
        raise Invalid("Choose one of the countries.")
    return countries[0].id


def countries():
    "(code, name) of every country, for a form's list"
    Country = Pool().get('country.country')
    return [(c.code, c.name)
        for c in Country.search([], order=[('name', 'ASC')])]


# What an invoice needs to say where its customer is (a billing run skips
# an account without it): asked wherever an account is created.
ADDRESS = {
    'street': lambda f, n: text(f, n, required=True),
    'postal_code': lambda f, n: text(f, n, required=True, max_length=20),
    'city': lambda f, n: text(f, n, required=True, max_length=100),
    'country': country,
    }


def home_country(company_id):
    """The code of the country of the tenant ``company_id``, the first
    guess for its customers' addresses"""
    if company_id is None:
        return ''
    company = Pool().get('company.company')(company_id)
    address = company.party.address_get()
    return address.country.code if address and address.country else ''


def address(values):
    "The party's address (party.address values) from what ADDRESS read"
    return {name: values[name] for name in ADDRESS}


def read(form, readers):
    """Run ``readers`` ({name: callable(form, name)}) and return
    (values, errors)."""
    values, errors = {}, {}
    for name, reader in readers.items():
        try:
            values[name] = reader(form, name)
        except Invalid as exception:
            errors[name] = str(exception)
    return values, errors
