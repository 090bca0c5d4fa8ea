"""Pure-Python rating engine of telecom_rating (no trytond import).

Compile plans once with ``compile_tariff``, then price calls at every
tenant level with ``rate_batch`` (or ``rate_call``). See README.md.
"""
from .csvio import InvalidFile, Problem, read_cdrs, read_rate_deck, \
    read_time_bands
from .model import BatchResult, Bundle, BundleBalance, Call, Level, \
    LevelCharge, Markup, Rate, RatedCall, RatePlan, TimeBand
from .batch import new_call
from .rating import charged_seconds, rate_batch, rate_call
from .tariff import Tariff, TariffError, compile_tariff

__all__ = [
    'BatchResult', 'Bundle', 'BundleBalance', 'Call', 'InvalidFile', 'Level',
    'LevelCharge', 'Markup', 'Problem', 'Rate', 'RatePlan', 'RatedCall',
    'Tariff', 'TariffError', 'TimeBand', 'charged_seconds', 'compile_tariff',
    'new_call', 'rate_batch', 'rate_call', 'read_cdrs', 'read_rate_deck',
    'read_time_bands']
