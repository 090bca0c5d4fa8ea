from trytond.cache import Cache
from trytond.model import fields, tree
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access


class Company(tree(name='rec_name'), metaclass=PoolMeta):
    """A tenant. The owner is a company without parent; a reseller is a
    company whose parent is the company that sells to it."""
    __name__ = 'company.company'
    # Reading "parent" would tell a reseller who its parent is (F2), so its
    # field access is granted to the owner's telecom administrators only.
    parent = fields.Many2One(
        'company.company', "Parent", ondelete='RESTRICT',
        help="The company that sells to this reseller.\n"
        "Leave empty for the owner of the installation.")
    children = fields.One2Many(
        'company.company', 'parent', "Resellers",
        help="The resellers that buy from this company.")

    _subtree_cache = Cache(__name__ + '.subtree', context=False)

    @classmethod
    def subtree(cls, company_ids):
        "Return the ids of the companies and of all their descendants"
        key = tuple(sorted(set(company_ids)))
        if not key:
            return []
        ids = cls._subtree_cache.get(key)
        if ids is not None:
            return ids
        with without_check_access():
            ids = sorted({c.id for c in cls.search(
                            [('parent', 'child_of', list(key))], order=[])})
        return cls._subtree_cache.set(key, ids)

    @classmethod
    def on_modification(cls, mode, companies, field_names=None):
        pool = Pool()
        Party = pool.get('party.party')
        User = pool.get('res.user')
        super().on_modification(mode, companies, field_names=field_names)
        if mode == 'create':
            # A company's own party is its identity: it belongs to itself,
            # so the owner sees it and the company can maintain it, but the
            # company's own customers' tenant never leaks upward.
            with without_check_access():
                for company in companies:
                    if company.party.tenant != company:
                        Party.write([company.party], {'tenant': company.id})
        if mode == 'create' or field_names is None or 'parent' in field_names:
            cls._subtree_cache.clear()
            User._get_companies_cache.clear()
            Pool().get('ir.rule')._domain_get_cache.clear()

    @property
    def is_owner(self):
        return not self.parent

    @classmethod
    def default_parent(cls):
        # A company created in the back office is by default a reseller of
        # the company the user works for.
        return Transaction().context.get('company')
