"""Exact money arithmetic on integers.

Prices enter as ``Decimal`` and are held as integer nano-units (10⁻⁹ of the
currency unit; decks with finer prices are rejected). A cost is carried as
an exact fraction ``numerator / denominator`` until it is rounded once, at
the end, with the plan's method.
"""
from decimal import Decimal
from fractions import Fraction

NANO = 10 ** 9


def to_nano(amount):
    "Return ``amount`` (Decimal, int or str) as integer nano-units."
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"{amount} is not a number")
    scaled = amount.scaleb(9)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 9 decimals")
    return int(scaled)


def ratio(value):
    "Return ``value`` (Decimal, int, Fraction) as (numerator, denominator)."
    value = Fraction(value)
    return value.numerator, value.denominator


def round_fraction(numerator, denominator, decimals, method):
    """Round ``numerator / denominator`` to ``decimals`` with ``method``.

    Methods work on the absolute value: ``half-up`` rounds halves away
    from zero, ``up`` away from zero, ``down`` towards zero.
    """
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(
        abs(numerator) * 10 ** decimals, abs(denominator))
    if remainder:
        if method == 'up':
            quotient += 1
        elif method == 'half-up':
            if 2 * remainder >= abs(denominator):
                quotient += 1
    if negative:
        quotient = -quotient
    return Decimal(quotient).scaleb(-decimals)
