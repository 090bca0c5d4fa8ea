from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access


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
        # Read without the rules: res.user's rule asks for this list.
        with without_check_access():
            return Company.subtree(super().get_companies())

    @classmethod
    def get_employees(cls):
        # Read without the rules, as get_companies.
        with without_check_access():
            return super().get_employees()


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
        if model_name == 'res.user':
            context['user_id'] = Transaction().user
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if 'res.user' in model_names:
            key = (*key, Transaction().user)
        return key


def is_read_only_user():
    """Whether the user works in a read-only role (the support agent's):
    read-only everywhere, whatever another module's access grants"""
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    User = pool.get('res.user')
    transaction = Transaction()
    if not transaction.user:
        return False
    try:
        group = ModelData.get_id('telecom_base', 'group_telecom_readonly')
    except KeyError:
        # Not created yet: telecom_base is being activated.
        return False
    return group in User.get_groups()


class ModelAccess(metaclass=PoolMeta):
    __name__ = 'ir.model.access'

    @classmethod
    def get_access(cls, models):
        # Access is the most any of the user's groups — or a grant given
        # to everyone, as many ERP models have — allows: a read-only role
        # cannot be made one by its own grants. This is the one place
        # that decides it, for every model, the client's forms included.
        access = super().get_access(models)
        if is_read_only_user():
            access = {
                model: {**modes, 'write': False, 'create': False,
                    'delete': False}
                for model, modes in access.items()}
        return access


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
