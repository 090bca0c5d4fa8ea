"""Switches, emergency numbers and live calls.

The call-control API (``api/``) decides calls from an in-memory snapshot of
accounts and prices, and keeps its atomic state — concurrency slots and
prepaid reservations — in ``telecom.live_call`` rows.
"""
import hashlib
import secrets

from sql import Null

from trytond import backend
from trytond.cache import Cache
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.pyson import Eval
from trytond.transaction import Transaction

from trytond.modules.telecom_base.caching import clears_caches

# Cleared when anything call control decides from changes: the API process
# rebuilds its snapshot (accounts, credentials, numbers, switches…).
snapshot_cache = Cache('telecom_switch.snapshot', context=False)


class SnapshotChangeMixin(clears_caches(snapshot_cache)):
    "Models call control decides from: a change rebuilds the API's snapshot"
    __slots__ = ()


def hash_key(key):
    # API keys are long random tokens: a fast hash is enough and keeps the
    # check off the hot path's budget (argon2 would cost ~50 ms a call).
    return hashlib.sha256(key.encode()).hexdigest()


class Switch(SnapshotChangeMixin, DeactivableMixin, ModelSQL, ModelView):
    """Switch

    A Kamailio proxy or an Asterisk (through telecom-ari-bridge) that asks
    the call-control API for decisions. Its key scopes it to its tenant's
    subtree: it can decide calls of those accounts only."""
    __name__ = 'telecom.switch'
    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True, strip=True,
        help="Stored on the CDRs of the switch; unique.")
    company = fields.Many2One(
        'company.company', "Tenant", required=True, ondelete='RESTRICT')
    kind = fields.Selection([
            ('kamailio', "Kamailio"),
            ('asterisk', "Asterisk (ARI bridge)"),
            ], "Kind", required=True)
    key_hash = fields.Char("Key Hash", readonly=True)
    key = fields.Function(fields.Char(
            "API Key", readonly=True,
            help="Shown once, when generated: copy it into the switch's "
            "configuration."),
        'get_key')
    rpc_url = fields.Char(
        "JSON-RPC URL",
        states={
            'invisible': Eval('kind') != 'kamailio',
            },
        help="Kamailio's JSON-RPC over HTTP (jsonrpcs), e.g. "
        "http://10.0.0.5:5060/RPC: the API asks it for the live dialogs "
        "(dlg.list) every minute and releases the calls it no longer has.")
    emergency_gateway = fields.Char(
        "Emergency Gateway",
        help="Where emergency calls go when no carrier route is found, "
        "e.g. sip:psap@192.0.2.1.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'telecom_switch.msg_switch_code_unique'),
            ]
        cls._buttons.update({
                'generate_key': {},
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'kamailio'

    def get_key(self, name):
        return Transaction().context.get('telecom_new_keys', {}).get(self.id)

    @classmethod
    @ModelView.button
    def generate_key(cls, switches):
        """Give each switch a new random key; return {id: key}. Only the
        hash is stored."""
        keys = {}
        for switch in switches:
            key = secrets.token_urlsafe(32)
            keys[switch.id] = key
            switch.key_hash = hash_key(key)
        cls.save(switches)
        return keys


class EmergencyNumber(SnapshotChangeMixin, ModelSQL, ModelView):
    """Emergency Number

    Never limited, never refused for credit (F21)."""
    __name__ = 'telecom.emergency.number'
    country = fields.Many2One(
        'country.country', "Country",
        help="Leave empty for a number that is an emergency number "
        "everywhere (112).")
    number = fields.Char(
        "Number", required=True, strip=True,
        help="As dialled, e.g. 112, 999, 911.")
    name = fields.Char("Name")


class LiveCall(ModelSQL, ModelView):
    """Live Call

    A call the API admitted: it holds a concurrency slot and, for accounts
    with a credit limit, a reservation. It ends with the switch's end
    event, or expires when none comes; an ended call keeps its
    reservation until its CDR is rated, so the balance is never spent
    twice."""
    __name__ = 'telecom.live_call'
    switch = fields.Many2One(
        'telecom.switch', "Switch", required=True, ondelete='CASCADE',
        readonly=True)
    call_id = fields.Char("Call ID", required=True, readonly=True)
    leg = fields.Char("Leg", required=True, readonly=True)
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE',
        readonly=True)
    direction = fields.Char("Direction", readonly=True)
    service = fields.Char("Service", readonly=True,
        help="voice, fax or sms: what its interim updates are priced as.")
    caller = fields.Char("Caller", readonly=True)
    callee = fields.Char("Callee", readonly=True)
    state = fields.Selection([
            ('authorized', "Authorized"),
            ('answered', "Answered"),
            ('ended', "Ended, waiting for its CDR"),
            ], "State", readonly=True)
    authorized_at = fields.DateTime("Authorized", readonly=True)
    answered_at = fields.DateTime("Answered", readonly=True)
    ended_at = fields.DateTime("Ended", readonly=True)
    expires_at = fields.DateTime("Expires", readonly=True)
    price_per_minute = fields.Numeric(
        "Price per Minute", digits=(16, 6), readonly=True)
    max_duration = fields.Integer("Maximum Duration", readonly=True)
    reserved = fields.Numeric("Reserved", digits=(16, 6), readonly=True)
    over_limit = fields.Boolean(
        "Over Limit", readonly=True,
        help="Admitted above the concurrency limit at extra cost.")
    emergency = fields.Boolean("Emergency", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('call_unique', Unique(t, t.switch, t.call_id, t.leg),
                'telecom_switch.msg_live_call_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.account, Index.Range()),
                    (t.expires_at, Index.Range())),
                # What ended calls hold until rated, read at each prepaid
                # admission (the live ones are in the store's counter row,
                # api/store.py). On ended_at, not state: an answer then
                # stays a HOT update.
                Index(t, (t.account, Index.Range()),
                    (t.expires_at, Index.Range()),
                    where=t.ended_at != Null),
                })
        cls.__access__.add('account')
        cls._order = [('authorized_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def __table_handler__(cls, module_name=None, history=False):
        """No foreign key constraints: a row is written by the API's
        admission (up to 1,000/s) for an account and a switch of its
        snapshot, and lives minutes. Their checks were a third of the
        admission's insert in PostgreSQL, and every one share-locked the
        switch's row that all concurrent admissions reference, which
        PostgreSQL records as a multixact. The ORM still cascades when an
        account or a switch is deleted (trytond applies ``ondelete``
        itself), and rows expire (docs/PERFORMANCE.md)."""
        handler = super().__table_handler__(module_name, history)
        handler.add_fk = lambda *args, **kwargs: None
        return handler

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        # Databases created with the foreign keys
        table = cls.__table_handler__(module_name)
        for name in ('switch', 'account'):
            table.drop_fk(name)
        if backend.name == 'postgresql':
            # The API's counter rows, their triggers and its admission
            # function (api/store.py): created and updated here, by
            # trytond-admin, not by the API process at its start.
            from .api.store import PostgreSQLStore
            PostgreSQLStore.register(Transaction().connection.cursor())


class MissingCdr(ModelSQL, ModelView):
    """Missing CDR

    A live call that expired without its CDR: the switch never sent it,
    or lost it. Kept with what the call was estimated to cost, for the
    operator to find the CDR or bill it by hand; never deleted with the
    live call. Written by a trigger on ``telecom_live_call`` (whatever
    deletes the expired row: the API's expiry loop, an admission, the
    cron), so no writer can drop a call silently."""
    __name__ = 'telecom.missing_cdr'
    switch = fields.Many2One(
        'telecom.switch', "Switch", required=True, ondelete='CASCADE',
        readonly=True)
    call_id = fields.Char("Call ID", required=True, readonly=True)
    leg = fields.Char("Leg", readonly=True)
    account = fields.Many2One(
        'telecom.account', "Account", required=True, ondelete='CASCADE',
        readonly=True)
    direction = fields.Char("Direction", readonly=True)
    callee = fields.Char("Callee", readonly=True)
    authorized_at = fields.DateTime("Authorized", readonly=True)
    answered_at = fields.DateTime("Answered", readonly=True)
    ended_at = fields.DateTime("Ended", readonly=True)
    expired_at = fields.DateTime("Expired", readonly=True)
    estimated_cost = fields.Numeric(
        "Estimated Cost", digits=(16, 6), readonly=True,
        help="The price per minute for every started minute from the "
        "answer to the end (or to the expiry when no end came), at most "
        "what was reserved; nothing if it was never answered.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        cls._order = [('expired_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        cursor = Transaction().connection.cursor()
        for statement in MISSING_TRIGGER[backend.name]:
            cursor.execute(statement)


# The live call's row, deleted when expired (its TTL passed: at most the
# call's grant plus 2 minutes, or an hour after its end) with no CDR
# stored, becomes a missing CDR. Rating deletes rows whose CDR exists, and
# reconcile rows not expired: neither is copied.
_MISSING_INSERT = """
INSERT INTO telecom_missing_cdr (switch, call_id, leg, account, direction,
    callee, authorized_at, answered_at, ended_at, expired_at,
    estimated_cost, create_uid, create_date)
SELECT OLD.switch, OLD.call_id, OLD.leg, OLD.account, OLD.direction,
    OLD.callee, OLD.authorized_at, OLD.answered_at, OLD.ended_at,
    OLD.expires_at, %(cost)s, 0, %(now)s
WHERE NOT EXISTS (SELECT 1 FROM telecom_cdr c JOIN telecom_switch s
    ON s.code = c.switch WHERE s.id = OLD.switch
    AND c.call_id = OLD.call_id AND c.leg = OLD.leg)
    -- the live call has no foreign keys (they cost its hot path): a call
    -- of an account or switch deleted meanwhile has no one to bill
    AND EXISTS (SELECT 1 FROM telecom_account a WHERE a.id = OLD.account)
    AND EXISTS (SELECT 1 FROM telecom_switch w WHERE w.id = OLD.switch)"""
_MISSING_COST = """CASE WHEN OLD.answered_at IS NULL THEN 0 ELSE (
    SELECT CASE WHEN COALESCE(OLD.reserved, 0) > 0 AND OLD.reserved < e
        THEN OLD.reserved ELSE e END FROM (
        SELECT COALESCE(OLD.price_per_minute, 0) * %(minutes)s AS e) m)
    END"""
MISSING_TRIGGER = {
    'postgresql': ["""
CREATE OR REPLACE FUNCTION telecom_live_call_missing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
""" + _MISSING_INSERT % {
            'cost': _MISSING_COST % {'minutes': (
                    "CEIL(GREATEST(0, EXTRACT(EPOCH FROM (COALESCE("
                    "OLD.ended_at, OLD.expires_at) - OLD.answered_at))) "
                    "/ 60)")},
            'now': "(now() AT TIME ZONE 'UTC')"} + """;
    RETURN NULL;
END
$$""", """
CREATE OR REPLACE TRIGGER telecom_live_call_missing
    AFTER DELETE ON telecom_live_call FOR EACH ROW
    WHEN (OLD.expires_at <= (now() AT TIME ZONE 'UTC'))
    EXECUTE FUNCTION telecom_live_call_missing()"""],
    'sqlite': ["DROP TRIGGER IF EXISTS telecom_live_call_missing", """
CREATE TRIGGER telecom_live_call_missing
    AFTER DELETE ON telecom_live_call FOR EACH ROW
    WHEN OLD.expires_at <= strftime('%Y-%m-%d %H:%M:%f', 'now')
BEGIN
""" + _MISSING_INSERT % {
            'cost': _MISSING_COST % {'minutes': (
                    # started minutes: ceil of a non-negative quotient
                    "(SELECT CAST(s / 60 AS INTEGER) + (s % 60 > 0) FROM "
                    "(SELECT MAX(0, CAST(ROUND((julianday(COALESCE("
                    "OLD.ended_at, OLD.expires_at)) - julianday("
                    "OLD.answered_at)) * 86400) AS INTEGER)) AS s))")},
            'now': "strftime('%Y-%m-%d %H:%M:%f', 'now')"} + """;
END"""],
    }
