"""The tenant wall where trytond's ORM leaves it open (issue 16).

Tryton's record rules scope what a back-office user reads, searches and
writes directly; three doors go round them, and they are closed here,
once, for every model — the suite's, the ERP's and any added later:

* ``export_data`` checks the rules in Python (``eval_domain``), which does
  not understand the ``where`` of rules that follow a record's account,
  plan or carrier (``__access__``): a reseller exported the owner's
  rates by id. The exported records, and every record an exported path
  goes through, are now checked by the database as ``read`` does.
* A search through a relational field (``party.name``, ``company``
  ``ilike`` a name, ``where``) searched the target without its rules: a
  sub-reseller found its parent's and the owner's names, streets and
  hashes one character at a time. The target's read rules are now part
  of the sub-search, and the field access of every field it compares.
* A wizard runs its steps with access checks off, on the records its
  form was given: a reseller gave "Invoice a Period" its parent's company
  and invoiced the owner's customers. Every record a wizard's form names
  is now read with the user's rules first, as its active records are.
* The ``company`` of the context picks which company's configuration a
  user reads and writes (company-dependent values); a call asking for a
  company the user does not work for is refused.

And before any log-in, ``common.db.list`` named every database of the
database server (on PostgreSQL, other deployments' too); it now names
only those this server serves (``trytond -d``), which sao's log-in needs.
A call to an RPC address without a JSON or XML Content-Type was a server
error (500); it is refused as an unsupported media type (415).

Applied when telecom_base is imported (``install``); the checks run only
for a user's calls with access checks on (RPC, the REST API), never for
root or code that turned them off."""
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

RELATIONAL = {'many2one', 'one2one', 'one2many', 'many2many'}
# Operators that compare a relational field with ids, not with names.
ID_OPERATORS = {
    '=', '!=', 'in', 'not in', 'child_of', 'not child_of', 'parent_of',
    'not parent_of'}


def _checked():
    transaction = Transaction()
    return bool(transaction.user and transaction.check_access)


def _is_leaf(clause):
    return (isinstance(clause, (list, tuple)) and len(clause) >= 3
        and isinstance(clause[0], str) and isinstance(clause[1], str)
        and clause[0] not in {'AND', 'OR'})


def _names(value):
    if isinstance(value, str):
        return True
    return (isinstance(value, (list, tuple)) and bool(value)
        and all(isinstance(v, str) for v in value))


def read_within_reach(Model, read, ids, fields_names, references):
    """``read(ids, fields_names)`` of ``Model`` with each Many2One of
    ``references`` blank where it points to a record the user may not read,
    and its dotted values (``account.rec_name``, as sao asks) read for the
    others only; a One2Many or Many2Many of them lists only the records the
    user may read. A reseller's purchase points to its parent's company,
    account of it and plan, and a sub-reseller's call has the charges of
    the levels above it, which F2 hides from them: Tryton refused the
    whole read (sao's form of the call never loaded) and a bare read
    returned their ids."""
    if not _checked():
        return read(ids, fields_names)
    asked = set(fields_names)
    heads = {name.partition('.')[0] for name in fields_names}
    references = [name for name in references if name in heads]
    if not references:
        return read(ids, fields_names)
    dotted = defaultdict(list)
    plain = []
    for name in fields_names:
        head, _, tail = name.partition('.')
        if head in references and tail:
            dotted[head].append(tail)
        else:
            plain.append(name)
    plain += [name for name in references if name not in plain]
    rows = read(ids, plain)
    pool = Pool()
    for name in references:
        field = Model._fields[name]
        Target = pool.get(field.model_name)
        many = field._type in {'one2many', 'many2many'}
        targets = list({i for row in rows
                for i in (row[name] if many else [row[name]])
                if i is not None})
        # The user's rules decide (search applies them, read would raise).
        readable = {r.id for r in Target.search([('id', 'in', targets)])}
        if many:
            for row in rows:
                row[name] = [i for i in row[name] if i in readable]
            continue
        values = {}
        if dotted.get(name) and readable:
            values = {v['id']: v
                for v in Target.read(list(readable), dotted[name])}
        for row in rows:
            if row[name] not in readable:
                row[name] = None
            if name in dotted:
                row[name + '.'] = values.get(row[name])
            if name not in asked:
                del row[name]
    return rows


def scope_domain(Model, domain):
    """``domain`` of ``Model`` with the read rules of every model a
    relational clause searches through added to that clause"""
    if _is_leaf(domain):
        return _scope_leaf(Model, domain)
    if not isinstance(domain, (list, tuple)):
        return domain
    return [
        scope_domain(Model, clause)
        if isinstance(clause, (list, tuple)) else clause
        for clause in domain]


def _scope_leaf(Model, leaf):
    pool = Pool()
    Rule = pool.get('ir.rule')
    ModelAccess = pool.get('ir.model.access')
    FieldAccess = pool.get('ir.model.field.access')
    name, operator, value, *rest = leaf
    field_name, _, tail = name.partition('.')
    # trytond checks the fields of a domain's dotted paths, not those a
    # `where` reaches: every field searched, at every level, is checked
    # here (a password hash was compared through create_uid).
    FieldAccess.check(Model.__name__, [field_name], 'read')
    field = Model._fields.get(field_name)
    if (field is None or field._type not in RELATIONAL
            # A Function field's searcher takes its own clauses.
            or getattr(field, 'searcher', None) is not None
            or rest):
        return leaf
    if tail:
        where, sub = 'where', [(tail, operator, value)]
    elif operator in {'where', 'not where'}:
        where, sub = operator, value
    elif operator not in ID_OPERATORS or _names(value):
        # Compared with the targets' names (rec_name).
        where, sub = 'where', [('rec_name', operator, value)]
    else:
        return leaf
    Target = field.get_target()
    ModelAccess.check(Target.__name__, 'read')
    sub = scope_domain(Target, sub)
    rule = Rule.domain_get(Target.__name__, mode='read')
    if rule:
        sub = ['AND', sub, rule]
    return (field_name, where, sub)


def check_export(Model, records, fields_names):
    """Let the database check the read rules of ``records`` and of every
    record the exported ``fields_names`` (``a/b/c`` paths) go through"""
    pool = Pool()
    seen = defaultdict(set)

    def walk(Model, records, paths):
        ids = {r.id for r in records if r.id is not None and r.id >= 0}
        ids -= seen[Model.__name__]
        if ids and hasattr(Model, 'read'):
            seen[Model.__name__] |= ids
            # read applies the rules in SQL and raises on a forbidden id.
            Model.read(list(ids), ['id'])
        children = defaultdict(list)
        for path in paths:
            if len(path) > 1:
                name = path[0].split('.')[0].split(':lang=')[0]
                children[name].append(path[1:])
        for name, subpaths in children.items():
            field = Model._fields.get(name)
            if field is None or field._type not in RELATIONAL | {
                    'reference'}:
                continue
            targets = defaultdict(list)
            for record in records:
                value = getattr(record, name)
                if value is None or isinstance(value, str):
                    continue
                for target in (value if isinstance(value, (list, tuple))
                        else [value]):
                    targets[target.__name__].append(target)
            for target_name, target_records in targets.items():
                walk(pool.get(target_name), target_records, subpaths)

    walk(Model, records, [n.split('/') for n in fields_names])


def _ids(value):
    "The record ids of a form value sent by a client"
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return _ids(value.get('id'))
    if isinstance(value, (list, tuple)):
        return [i for v in value for i in _ids(v)]
    return []


def check_wizard_data(Wizard, data):
    """Read, with the user's rules, every record the wizard's forms in
    ``data`` (as sent by the client) name"""
    from trytond.wizard import StateView
    pool = Pool()
    for state_name, values in data.items():
        state = Wizard.states.get(state_name)
        if not isinstance(state, StateView) or not isinstance(values, dict):
            continue
        Model = pool.get(state.model_name)
        for name, value in values.items():
            field = Model._fields.get(name)
            if field is None or field._type not in RELATIONAL:
                continue
            ids = [i for i in _ids(value) if i >= 0]
            if ids:
                field.get_target().read(ids, ['id'])


def check_context_company(context):
    """Refuse a ``company`` in the context that the user does not work
    for: it decides whose company-dependent configuration is read and
    written"""
    pool = Pool()
    User = pool.get('res.user')
    company = context.get('company')
    if company is None or not _checked():
        return
    try:
        company = int(company)
    except (TypeError, ValueError):
        company = -1
    allowed = set(User.get_companies())
    if company not in allowed:
        # Also the companies the user belongs to and their children, not
        # only those its filter shows now: a client still holding the
        # context of the company it worked in before switching is not an
        # intruder.
        own = [c.id for c in User(Transaction().user).companies]
        if own:
            Company = pool.get('company.company')
            with without_check_access():
                allowed.update(c.id for c in Company.search(
                        [('parent', 'child_of', own)]))
    if company not in allowed:
        raise AccessError(gettext('telecom_base.msg_context_company'))


def install():
    "Close the three doors (see the module's docstring); once per process"
    from trytond.model import ModelSQL, ModelStorage
    from trytond.rpc import RPC
    if getattr(ModelStorage, '_telecom_wall', False):
        return

    export_data = ModelStorage.export_data.__func__

    @classmethod
    def export_data_checked(cls, records, fields_names, header=False):
        if _checked() and records:
            check_export(cls, records, fields_names)
        return export_data(cls, records, fields_names, header=header)
    ModelStorage.export_data = export_data_checked

    search = ModelSQL.search.__func__

    @classmethod
    def search_scoped(cls, domain, offset=0, limit=None, order=None,
            count=False, query=False):
        if _checked():
            domain = scope_domain(cls, domain)
        return search(cls, domain, offset=offset, limit=limit, order=order,
            count=count, query=query)
    ModelSQL.search = search_scoped

    convert = RPC.convert

    def convert_checked(self, obj, *args, **kwargs):
        result = convert(self, obj, *args, **kwargs)
        context = result[2]
        with Transaction().set_context(_check_access=True):
            check_context_company(context)
        return result
    RPC.convert = convert_checked

    from trytond.transaction import check_access
    from trytond.wizard import Wizard
    execute = Wizard.execute.__func__

    @classmethod
    def execute_checked(cls, session_id, data, state_name):
        if Transaction().user:
            with check_access():
                check_wizard_data(cls, data)
        return execute(cls, session_id, data, state_name)
    Wizard.execute = execute_checked

    # A wizard's steps run with access checks off: a read-only role
    # (res.is_read_only_user) runs none.
    wizard_access = Wizard.check_access.__func__

    @classmethod
    def check_wizard_access(cls):
        from .res import is_read_only_user
        wizard_access(cls)
        if Transaction().user and is_read_only_user():
            raise AccessError(gettext('telecom_base.msg_read_only_wizard'))
    Wizard.check_access = check_wizard_access

    from trytond.protocols import dispatcher
    db_list = dispatcher.db_list

    def db_list_served(request, *args):
        served = set(Pool.database_list())
        return [name for name in db_list(request, *args) if name in served]
    # Looked up by name at each call (dispatcher.root).
    dispatcher.db_list = db_list_served

    from http import HTTPStatus

    from trytond.protocols.wrappers import Request, abort

    # The request of a body that is neither JSON nor XML: trytond's RPC
    # endpoints took its missing method (None) as one and failed.
    def rpc_method(request):
        if request.path.endswith('/rpc/'):
            abort(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    Request.rpc_method = property(rpc_method)

    ModelStorage._telecom_wall = True
