from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def get_companies(cls):
        """A user sees the subtree of each company it belongs to.

        Tryton's company rules compare records' company with this list, so
        extending it here scopes every company rule — ours and those of
        the ERP modules (invoices, sales, payments) — to the tenant subtree.
        """
        pool = Pool()
        Company = pool.get('company.company')
        return Company.subtree(super().get_companies())


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.domain.help += (
            '\n- "telecom_owner" true when the user works for the owner')

    @classmethod
    def _get_context(cls, model_name):
        pool = Pool()
        Company = pool.get('company.company')
        context = super()._get_context(model_name)
        companies = context.get('companies') or []
        with without_check_access():
            context['telecom_owner'] = any(
                c.is_owner for c in Company.browse(companies))
        return context


class Role(metaclass=PoolMeta):
    __name__ = 'res.role'
    menus = fields.Function(fields.Many2Many(
            'ir.ui.menu', None, None, "Menus",
            help="The menus that users with this role see, "
            "through the groups of the role."),
        'get_menus')

    def get_menus(self, name):
        pool = Pool()
        Menu = pool.get('ir.ui.menu')
        groups = [g.id for g in self.groups]
        if not groups:
            return []
        return [m.id for m in Menu.search([
                    ('groups', 'in', groups),
                    ], order=[('sequence', 'ASC'), ('id', 'ASC')])]
