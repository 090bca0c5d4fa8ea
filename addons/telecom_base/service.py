"""Services of an account: lines, numbers (DIDs), SIP addresses and trunk
credentials.

Numbers, SIP addresses and credentials are *claims*: each identifies one
account system-wide when a call arrives, so two accounts — of any tenants —
can never hold the same one (nor overlapping IP ranges or tech prefixes).
The check runs after the rows are written, under a per-model advisory lock
taken before writing, so two concurrent transactions cannot both pass it;
its message names the conflicting account only when the user may see it.
"""
from trytond.config import config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from . import numbering
from .locking import advisory_lock
from .exceptions import (
    ClaimConflictError, FeatureLimitError, NumberFormatError)


def _visible_account_name(account):
    """The account's name when the current user may see it, otherwise a
    neutral phrase: a conflict must not disclose another tenant's customer."""
    pool = Pool()
    User = pool.get('res.user')
    transaction = Transaction()
    # Decided by who asks, not by the access-check flag: validation runs
    # with access checks off even when a reseller's request triggered it.
    if not transaction.user or account.company.id in User.get_companies():
        return account.rec_name
    return gettext('telecom_base.msg_other_tenant_account')


class ServiceMixin(ModelSQL, ModelView):
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE',
        domain=[('state', '!=', 'closed')],
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    company = fields.Function(fields.Many2One(
            'company.company', "Tenant"),
        'on_change_with_company', searcher='search_company')

    # The field that identifies the account on a call, unique system-wide.
    _claim_field = None

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # The account's record rules (its tenant) apply to its services.
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.account, Index.Range())))
        if cls._claim_field:
            cls._sql_indexes.add(Index(
                    t, (getattr(t, cls._claim_field),
                        Index.Equality(cardinality='high'))))

    @fields.depends('account', '_parent_account.company')
    def on_change_with_company(self, name=None):
        return self.account.company if self.account else None

    @classmethod
    def search_company(cls, name, clause):
        return [('account.company',) + tuple(clause[1:])]

    @classmethod
    def create(cls, vlist):
        advisory_lock(cls.__name__)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        advisory_lock(cls.__name__)
        super().write(*args)

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        cls.check_claims(records, field_names)
        cls.check_feature_limits(records, field_names)

    @classmethod
    def _claims(cls, record):
        "Yield the claim values of a record (none when it claims nothing)"
        value = getattr(record, cls._claim_field) if cls._claim_field else None
        if value:
            yield value

    @classmethod
    def _claims_conflict(cls, a, b):
        return a == b

    @classmethod
    def _conflict_candidates(cls, record, value):
        return cls.search([
                (cls._claim_field, '=', value),
                ('id', '!=', record.id),
                ], order=[('id', 'ASC')])

    @classmethod
    def check_claims(cls, records, field_names=None):
        if not cls._claim_field:
            return
        if field_names and not (field_names & {cls._claim_field, 'account'}):
            return
        with without_check_access():
            records = cls.browse(records)
            for record in records:
                for value in cls._claims(record):
                    for other in cls._conflict_candidates(record, value):
                        if other.account == record.account:
                            continue
                        for other_value in cls._claims(other):
                            if cls._claims_conflict(value, other_value):
                                cls._raise_conflict(record, value, other,
                                    other_value)

    @classmethod
    def _raise_conflict(cls, record, value, other, other_value):
        raise ClaimConflictError(gettext(
                'telecom_base.msg_claim_conflict',
                field=cls._fields[cls._claim_field].string,
                value=value, other_value=other_value,
                account=_visible_account_name(other.account)))

    @classmethod
    def check_feature_limits(cls, records, field_names=None):
        pool = Pool()
        Limit = pool.get('telecom.account.feature_limit')
        if field_names and 'account' not in field_names:
            return
        accounts = {r.account for r in records}
        with without_check_access():
            limits = Limit.search([
                    ('account', 'in', [a.id for a in accounts]),
                    ('feature.counts', '=', cls.__name__),
                    ('maximum', '!=', None),
                    ])
            for limit in limits:
                used = limit.get_used()
                if used > limit.maximum:
                    raise FeatureLimitError(gettext(
                            'telecom_base.msg_feature_limit_exceeded',
                            account=limit.account.rec_name,
                            feature=limit.feature.name,
                            maximum=limit.maximum, used=used))

    @classmethod
    def _normalize(cls, values, field, function, **kwargs):
        "Normalise one field of values in place, naming it in the error"
        if values.get(field):
            try:
                values[field] = function(values[field], **kwargs)
            except ValueError as exception:
                raise NumberFormatError(gettext(
                        'telecom_base.msg_invalid_value',
                        field=cls._fields[field].string,
                        model=cls.__names__()['model'],
                        reason=str(exception))) from exception


class Line(ServiceMixin):
    "Line"
    __name__ = 'telecom.line'
    name = fields.Char("Name", required=True)
    extension = fields.Char(
        "Extension", strip=True,
        help="The short number other lines of the PBX dial.")
    caller_id = fields.Many2One(
        'telecom.number', "Caller ID", ondelete='SET NULL',
        domain=[('account', '=', Eval('account', -1))],
        help="The number presented when this line calls out.")

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        if field_names and not (field_names & {'extension', 'account'}):
            return
        for line in lines:
            if line.extension and cls.search([
                        ('account', '=', line.account.id),
                        ('extension', '=', line.extension),
                        ('id', '!=', line.id),
                        ]):
                raise ClaimConflictError(gettext(
                        'telecom_base.msg_extension_unique',
                        extension=line.extension,
                        account=line.account.rec_name))


class Number(ServiceMixin):
    "Number"
    __name__ = 'telecom.number'
    number = fields.Char(
        "Number", required=True, strip=True,
        help="The DID in international form; +44 20 7123 4567, "
        "0044 20 7123 4567 and, for accounts with a country, "
        "020 7123 4567 are all read as 442071234567.")
    line = fields.Many2One(
        'telecom.line', "Line", ondelete='SET NULL',
        domain=[('account', '=', Eval('account', -1))],
        help="The line that rings when the number is called.")
    description = fields.Char("Description")
    _claim_field = 'number'

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Account = pool.get('telecom.account')
        values = super().preprocess_values(mode, values)
        if values.get('number'):
            if mode == 'create' and values.get('account') is not None:
                with without_check_access():
                    account = Account(values['account'])
                    cls._normalize(
                        values, 'number', numbering.normalize_number,
                        country=(
                            account.country.code if account.country else None),
                        national_prefix=account.national_prefix or '',
                        international_prefix=(
                            account.international_prefix or ''))
            else:
                cls._normalize(values, 'number', numbering.normalize_number)
        return values

    def get_rec_name(self, name):
        return '+' + self.number


class SipAddress(ServiceMixin):
    "SIP Address"
    __name__ = 'telecom.sip_address'
    address = fields.Char(
        "Address", required=True, strip=True,
        help="A SIP address of the form user@domain that reaches the "
        "account on inbound calls.")
    line = fields.Many2One(
        'telecom.line', "Line", ondelete='SET NULL',
        domain=[('account', '=', Eval('account', -1))])
    _claim_field = 'address'
    _rec_name = 'address'

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        cls._normalize(values, 'address', numbering.normalize_sip_address)
        return values


CREDENTIAL_KINDS = [
    ('sip', "SIP username and password"),
    ('ip', "Source IP address"),
    ('prefix', "Tech prefix"),
    ]


class Credential(ServiceMixin):
    """Trunk Credential

    How a wholesale switch is recognised on an outbound call (F4)."""
    __name__ = 'telecom.credential'
    kind = fields.Selection(
        CREDENTIAL_KINDS, "Kind", required=True,
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    username = fields.Char(
        "SIP Username", strip=True,
        states={
            'required': Eval('kind') == 'sip',
            'invisible': Eval('kind') != 'sip',
            })
    realm = fields.Char(
        "Realm", strip=True,
        states={
            'required': Eval('kind') == 'sip',
            'invisible': Eval('kind') != 'sip',
            },
        help="The SIP digest realm, usually the domain of the proxy.")
    password = fields.Function(fields.Char(
            "Password",
            states={
                'invisible': Eval('kind') != 'sip',
                }),
        'get_password', setter='set_password')
    line = fields.Many2One(
        'telecom.line', "Line", ondelete='SET NULL',
        domain=[('account', '=', Eval('account', -1))],
        states={
            'invisible': Eval('kind') != 'sip',
            },
        help="The line (phone) that registers with this SIP username: "
        "inbound calls to the line's numbers ring it. Empty for a trunk.")
    ha1 = fields.Char("HA1", readonly=True,
        states={
            'invisible': True,
            })
    network = fields.Char(
        "IP Network", strip=True,
        states={
            'required': Eval('kind') == 'ip',
            'invisible': Eval('kind') != 'ip',
            },
        help="An address (192.0.2.10) or a CIDR range (192.0.2.0/28).")
    tech_prefix = fields.Char(
        "Tech Prefix", strip=True,
        states={
            'required': Eval('kind') == 'prefix',
            'invisible': Eval('kind') != 'prefix',
            },
        help="Digits the switch puts before the called number.")
    claim = fields.Char("Claim", readonly=True,
        help="The normalised username, network or prefix.")
    _claim_field = 'claim'

    @classmethod
    def default_kind(cls):
        return 'sip'

    @classmethod
    def default_realm(cls):
        return config.get('telecom', 'sip_realm', default='sip.localhost')

    def get_rec_name(self, name):
        return f'{self.kind}: {self.claim}'

    def get_password(self, name):
        # Only HA1 is kept; the password cannot be read back.
        return None

    @classmethod
    def set_password(cls, credentials, name, value):
        if not value:
            return
        to_write = []
        for credential in credentials:
            to_write.extend([[credential], {
                        'ha1': numbering.sip_ha1(
                            credential.username, credential.realm, value),
                        }])
        cls.write(*to_write)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        cls._normalize(values, 'network', numbering.normalize_network)
        cls._normalize(values, 'tech_prefix', numbering.normalize_tech_prefix)
        if values.get('username'):
            if any(c in values['username'] for c in ' :@'):
                raise NumberFormatError(gettext(
                        'telecom_base.msg_invalid_value',
                        field=cls.username.string,
                        model=cls.__names__()['model'],
                        reason=f"{values['username']!r} contains a space, "
                        "':' or '@'"))
        return values

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names)
        claim = {
            'sip': self.username,
            'ip': self.network,
            'prefix': self.tech_prefix,
            }.get(self.kind)
        if self.claim != claim:
            values['claim'] = claim
        return values

    @classmethod
    def _claims(cls, record):
        if record.claim:
            yield (record.kind, record.claim)

    @classmethod
    def _claims_conflict(cls, a, b):
        (kind, value), (other_kind, other_value) = a, b
        if kind != other_kind:
            return False
        if kind == 'ip':
            return numbering.networks_overlap(value, other_value)
        if kind == 'prefix':
            return numbering.prefixes_overlap(value, other_value)
        return value == other_value

    @classmethod
    def _conflict_candidates(cls, record, value):
        kind, claim = value
        domain = [('kind', '=', kind), ('id', '!=', record.id)]
        if kind == 'sip':
            domain.append(('claim', '=', claim))
        return cls.search(domain, order=[('id', 'ASC')])

    @classmethod
    def _raise_conflict(cls, record, value, other, other_value):
        kind, claim = value
        field = {
            'sip': cls.username, 'ip': cls.network,
            'prefix': cls.tech_prefix}[kind].string
        raise ClaimConflictError(gettext(
                'telecom_base.msg_claim_conflict',
                field=field, value=claim, other_value=other_value[1],
                account=_visible_account_name(other.account)))
