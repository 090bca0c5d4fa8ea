"""Normalisation of telephone numbers, SIP addresses and trunk credentials.

Inside the suite a telephone number is an E.164 digit string without '+'
(DESIGN.md, "Money, time and numbers"). These functions are the edge where
what people type becomes that form; they have no trytond import so that the
switch API and the engines can share them.
"""
import hashlib
import ipaddress
import re

import phonenumbers

_SEPARATORS = re.compile(r'[\s().\-/]')
# RFC 3261 "user" unreserved characters, without the escapes we never need.
_SIP_USER = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/]+$")
_HOSTNAME = re.compile(
    r'^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)'
    r'(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')
_DIGITS = re.compile(r'^[0-9]+$')


def normalize_number(
        raw, country=None, national_prefix='0', international_prefix='00'):
    """Return the E.164 digits (no '+') of what a user typed.

    ``country`` is the ISO 3166 alpha-2 code used for national numbers;
    ``national_prefix`` and ``international_prefix`` are the account's
    dialling rules (trunk prefix '0' and '00' in most of Europe, '1' and
    '011' in North America).
    Raise ValueError with a reason a user can act on.
    """
    if raw is None or not str(raw).strip():
        raise ValueError("the number is empty")
    text = _SEPARATORS.sub('', str(raw).strip())
    if text.startswith('+'):
        international = text[1:]
    elif international_prefix and text.startswith(international_prefix):
        international = text[len(international_prefix):]
    elif not _DIGITS.match(text):
        raise ValueError(f"{raw!r} contains characters other than digits")
    elif country:
        try:
            parsed = phonenumbers.parse(text, country.upper())
        except phonenumbers.NumberParseException as exception:
            raise ValueError(f"{raw!r} is not a telephone number: "
                f"{exception._msg}") from exception
        return _check(raw, parsed)
    else:
        international = text
    if not _DIGITS.match(international):
        raise ValueError(f"{raw!r} contains characters other than digits")
    try:
        parsed = phonenumbers.parse('+' + international, None)
    except phonenumbers.NumberParseException as exception:
        raise ValueError(f"{raw!r} is not an international number: "
            f"{exception._msg}") from exception
    return _check(raw, parsed)


def dialled_number(raw, wholesale=False, country=None, national_prefix='0',
        international_prefix='00'):
    """The E.164 digits of a number an account dialled, None when it is
    not one. Trunks (wholesale) send E.164 by convention; other accounts
    dial as at home."""
    if wholesale:
        try:
            return normalize_number(raw)
        except ValueError:
            pass
    try:
        return normalize_number(
            raw, country, national_prefix, international_prefix)
    except ValueError:
        return None


def callee_as_authorized(callee, direction, emergency=(), **dialling):
    """The callee of a call as authorize prices it and its CDR is stored,
    by every writer of CDRs (the API, Cdr.ingest): an outbound number
    dialled as at home as E.164 digits (``dialled_number`` with the
    account's ``dialling`` rules); an inbound number, an emergency number
    (in ``emergency``) or what is no number, as it is."""
    if direction != 'outbound' or callee in emergency:
        return callee
    return dialled_number(callee, **dialling) or callee


def _check(raw, parsed):
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(
            f"{raw!r} does not have a possible length for "
            f"+{parsed.country_code}")
    digits = phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    if len(digits) > 15:
        raise ValueError(f"{raw!r} is longer than the 15 digits of E.164")
    return digits


def normalize_sip_address(raw):
    """Return ``user@domain`` lower-cased, or raise ValueError.

    SIP user parts are case-sensitive in RFC 3261, but two addresses that
    differ only by case are a support nightmare and a spoofing vector, so
    the suite stores and compares them lower-cased.
    """
    text = (raw or '').strip()
    if text.lower().startswith('sip:'):
        text = text[4:]
    if text.count('@') != 1:
        raise ValueError(f"{raw!r} is not of the form user@domain")
    user, domain = text.lower().split('@')
    if not user or not _SIP_USER.match(user):
        raise ValueError(f"the user part of {raw!r} is empty or has "
            "characters not allowed in a SIP user")
    if not _HOSTNAME.match(domain):
        raise ValueError(f"the domain of {raw!r} is not a host name")
    return f'{user}@{domain}'


def normalize_network(raw):
    "Return a CIDR string for an IP address or network, or raise ValueError"
    try:
        network = ipaddress.ip_network((raw or '').strip(), strict=False)
    except ValueError as exception:
        raise ValueError(
            f"{raw!r} is not an IP address or CIDR network") from exception
    return str(network)


def networks_overlap(a, b):
    a, b = ipaddress.ip_network(a), ipaddress.ip_network(b)
    return a.version == b.version and a.overlaps(b)


def normalize_tech_prefix(raw):
    text = (raw or '').strip()
    if not text or not _DIGITS.match(text) or len(text) > 10:
        raise ValueError(f"{raw!r} is not a tech prefix of 1 to 10 digits")
    return text


def prefixes_overlap(a, b):
    "Two tech prefixes are ambiguous when one starts the other"
    return a.startswith(b) or b.startswith(a)


def sip_ha1(username, realm, password):
    """The digest HA1 that Kamailio's auth_db compares against.

    SIP digest authentication needs HA1 = MD5(user:realm:password) on the
    proxy, so a slow one-way hash (argon2) cannot be used for SIP secrets;
    storing HA1 instead of the password is what Kamailio recommends
    (auth_db calculate_ha1=0).
    """
    return hashlib.md5(
        f'{username}:{realm}:{password}'.encode()).hexdigest()
