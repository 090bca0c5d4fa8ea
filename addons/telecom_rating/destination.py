"""Destination groups: the owner's sets of prefixes ("UK mobile", "France
fixed") on which resellers set their markups (F9) and bundles apply (F14)."""
from trytond.model import ModelSQL, ModelView, Unique, fields

from .plan import PrefixMixin, TariffChangeMixin


class DestinationGroup(TariffChangeMixin, ModelSQL, ModelView):
    "Destination Group"
    __name__ = 'telecom.destination.group'
    code = fields.Char(
        "Code", required=True, strip=True,
        help="A short name used in rate decks, markups and reports.")
    name = fields.Char("Name", required=True, translate=True)
    prefixes = fields.One2Many(
        'telecom.destination.prefix', 'group', "Prefixes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'telecom_rating.msg_group_code_unique'),
            ]


class DestinationPrefix(PrefixMixin, TariffChangeMixin, ModelSQL, ModelView):
    "Destination Prefix"
    __name__ = 'telecom.destination.prefix'
    group = fields.Many2One(
        'telecom.destination.group', "Group", required=True,
        ondelete='CASCADE')
    prefix = fields.Char(
        "Prefix", required=True, strip=True,
        help="The E.164 digits the numbers of the group start with.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('prefix_unique', Unique(t, t.prefix),
                'telecom_rating.msg_prefix_one_group'),
            ]
        cls.__access__.add('group')
