from trytond.model import fields
from trytond.pool import PoolMeta


class Company(metaclass=PoolMeta):
    __name__ = 'company.company'
    number_quarantine_days = fields.Integer(
        "Number Quarantine Days", required=True,
        domain=[('number_quarantine_days', '>=', 0)],
        help="How long a released or returned number rests before it can "
        "be assigned again: a new holder must not get the previous "
        "holder's calls.")

    @classmethod
    def default_number_quarantine_days(cls):
        return 90
