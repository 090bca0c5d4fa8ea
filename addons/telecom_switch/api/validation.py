"""Checking request bodies: every problem named, nothing trusted.

A small hand-written validator rather than a framework: the hot path
validates one flat object per call, and the errors must name the field.
"""
import datetime as dt
import re

# One error for every check of a body, the CDR row's included
from trytond.modules.telecom_rating.cdr_row import Invalid  # noqa: F401

DIGITS = re.compile(r'^\+?[0-9]{1,32}$')
TOKEN = re.compile(r'^[A-Za-z0-9._:@+\-]{1,128}$')
# What a call may be addressed to: a number, or the user part of a SIP
# address (F5: ``reception`` of reception@example.com), RFC 3261's user
# characters without escapes (telecom_base.numbering).
CALLEE = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}$")


def require_object(body, name='body'):
    if not isinstance(body, dict):
        raise Invalid(name, "must be a JSON object")
    return body


def string(body, name, required=True, pattern=None, max_length=128):
    value = body.get(name)
    if value is None or value == '':
        if required:
            raise Invalid(name, "is required")
        return None
    if not isinstance(value, str):
        raise Invalid(name, "must be a string")
    if len(value) > max_length:
        raise Invalid(name, f"is longer than {max_length} characters")
    if pattern is not None and not pattern.match(value):
        raise Invalid(name, "has characters that are not allowed")
    return value


def number(body, name, required=True):
    value = string(body, name, required, DIGITS, 33)
    return value.lstrip('+') if value else value


def call_target(body, name):
    "A number without its '+', or a SIP user part as it is"
    value = string(body, name, True, CALLEE, 64)
    return value.lstrip('+') if DIGITS.match(value) else value


def choice(body, name, choices, default):
    value = body.get(name, default)
    if value is None:
        value = default
    if value not in choices:
        raise Invalid(name, "must be one of " + ', '.join(choices))
    return value


def integer(body, name, required=True, minimum=0, maximum=10 ** 9):
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(name, "must be an integer")
    if not minimum <= value <= maximum:
        raise Invalid(name, f"must be between {minimum} and {maximum}")
    return value


def instant(body, name, required=True):
    value = string(body, name, required, max_length=40)
    if value is None:
        return None
    text = value.replace('Z', '+00:00')
    # Asterisk writes offsets without a colon: +0300.
    if re.match(r'.*[+-]\d{4}$', text):
        text = text[:-2] + ':' + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(name, "must be an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise Invalid(name, "must carry a UTC offset")
    # Years 1 and 9999 overflow in UTC or an hour later (an end's
    # expiry): a 400, not a 500. Implausible CDR dates are cdr_row's.
    if not 1900 <= moment.year <= 2999:
        raise Invalid(name, "must be a year from 1900 to 2999")
    return moment.astimezone(dt.timezone.utc)
