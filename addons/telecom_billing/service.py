"""When each service starts and stops: the dates the feature extras are
pro-rated by. A stopped service keeps its record with an end date."""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If


class ServiceDatesMixin:
    __slots__ = ()
    start_date = fields.Date(
        "Start Date",
        help="The first day the service is charged. "
        "Empty: since before any billing.")
    end_date = fields.Date(
        "End Date",
        domain=[If(Eval('end_date') & Eval('start_date'),
                ('end_date', '>=', Eval('start_date')), ())],
        help="The last day the service is charged. Empty while it runs.")

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()


class Line(ServiceDatesMixin, metaclass=PoolMeta):
    __name__ = 'telecom.line'


class Number(ServiceDatesMixin, metaclass=PoolMeta):
    __name__ = 'telecom.number'


class SipAddress(ServiceDatesMixin, metaclass=PoolMeta):
    __name__ = 'telecom.sip_address'


class Credential(ServiceDatesMixin, metaclass=PoolMeta):
    __name__ = 'telecom.credential'
