import re

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta

from .exceptions import PeppolIdError

# An EAS scheme (4 digits, e.g. 0088 for GLN, 9932 for a UK VAT number)
# and the identifier within it.
PEPPOL_ID = re.compile(r'^[0-9]{4}:\S+$')


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    peppol_id = fields.Char(
        "Peppol Participant ID",
        help="The party's address on the Peppol network, as scheme:identifier "
        "(\"0088:5790000435975\"): the electronic address of its e-invoices. "
        "Without one, its e-mail for invoices is used.")

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        if field_names and 'peppol_id' not in field_names:
            return
        for party in parties:
            if party.peppol_id and not PEPPOL_ID.match(party.peppol_id):
                raise PeppolIdError(gettext(
                        'telecom_billing.msg_peppol_id',
                        peppol_id=party.peppol_id, party=party.rec_name))
