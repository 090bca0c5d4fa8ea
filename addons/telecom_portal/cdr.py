from trytond.model import Index
from trytond.pool import PoolMeta


class Cdr(metaclass=PoolMeta):
    __name__ = 'telecom.cdr'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The portal's call history pages by keyset (start, id) DESC within
        # an account: scanned backwards, this index answers each page with one
        # range scan whatever the account's history; (account, start) alone
        # would sort the calls of an equal start.
        # The duration rides in the index (PostgreSQL INCLUDE) so that the
        # usage chart — a month of a busy account, tens of thousands of
        # calls — is an index-only scan, not as many heap reads.
        cls._sql_indexes.add(
            Index(t, (t.account, Index.Range()), (t.start, Index.Range()),
                (t.id, Index.Range()), include=[t.duration]))
