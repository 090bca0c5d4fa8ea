"""The attacker's suite (issue 16): the demo's reseller (bluebell) and
sub-reseller (corner) log in to trytond's own server over JSON-RPC and try
every model of the registry, every wizard and every report on the records
of the tenants above and beside them.

Generic over the registry — a new model is attacked without anyone adding
it here. What a tenant may see is what the administrator sees minus what
the tenant finds with a plain search (the rules the issue found sound);
everything else must stay out of reach: read, exported, counted, found
through a relational field, written, deleted, created in another tenant's
company, worked on with another company in the context, handed to a
wizard's form or printed. A sample of records per model keeps the run to
a few minutes; it prints how many (model, operation) pairs it tried."""
import sqlite3
from collections import Counter

import pytest

from .test_backoffice_rpc import (  # noqa: F401 (fixtures)
    Session, backoffice, query, refused)

ATTACKERS = ['bluebell', 'corner']
SAMPLE = 3
# Kinds of fields through which a search reaches another model.
RELATIONAL = {'many2one', 'one2many', 'many2many', 'one2one'}


def ids_of(result):
    return result.get('result') or [] if isinstance(result, dict) else []


class Attack:
    "One attacker's run over the registry, counting what it tried"

    def __init__(self, url, path, login):
        self.admin = Session(url, 'admin')
        self.user = Session(url, login)
        self.path = path
        self.tried = Counter()
        self.leaks = []
        (self.owner,), = query(path,
            "SELECT id FROM company_company WHERE parent IS NULL")
        self.foreign = {}

    def leak(self, model, operation, detail):
        self.leaks.append(f'{model} {operation}: {str(detail)[:200]}')

    def models(self):
        """The registry's models that hold records: (name, fields) of each,
        fields as {name: {'type': …, 'relation': …}}"""
        rows = self.admin.call('model.ir.model.field.search_read', [], 0,
            None, None, ['model', 'name', 'ttype', 'relation'], {})
        models = {}
        for row in rows['result']:
            models.setdefault(row['model'], {})[row['name']] = {
                'type': row['ttype'], 'relation': row['relation']}
        for name, fields in sorted(models.items()):
            if self.table_count(name) not in (None, [(0,)]):
                yield name, fields

    def foreign_ids(self, model):
        """Up to SAMPLE ids of ``model`` the administrator finds and the
        attacker does not, and whether the attacker may search it"""
        if model not in self.foreign:
            everything = set(ids_of(self.admin.call(
                        f'model.{model}.search', [], 0, 2000, None, {})))
            result = self.user.call(
                f'model.{model}.search', [], 0, None, None, {})
            self.tried[model, 'search'] += 1
            own = set(ids_of(result))
            self.foreign[model] = sorted(everything - own)[:SAMPLE]
        return self.foreign[model]

    def table_count(self, model):
        try:
            return query(self.path,
                f'SELECT COUNT(*) FROM "{model.replace(".", "_")}"')
        except sqlite3.Error:
            return None

    def attack_model(self, model, fields):
        foreign = self.foreign_ids(model)
        call = self.user.call
        stored = [n for n, f in fields.items()
            if f.get('type') in {'char', 'integer', 'numeric', 'date',
                'boolean', 'selection'}
            and n not in {'id', 'rec_name'}]
        if foreign:
            for operation, result in [
                    ('read', call(f'model.{model}.read', foreign,
                            ['id', 'rec_name'], {})),
                    ('export_data', call(f'model.{model}.export_data',
                            foreign, ['id'] + stored[:1], {})),
                    ]:
                self.tried[model, operation] += 1
                if not refused(result):
                    self.leak(model, operation, result)
            result = call(f'model.{model}.search_count',
                [('id', 'in', foreign)], {})
            self.tried[model, 'search_count'] += 1
            if not refused(result) and result.get('result'):
                self.leak(model, 'search_count', result)
            before = self.table_count(model)
            if stored:
                name = stored[0]
                value = {'boolean': True, 'integer': 1, 'date': None,
                    'numeric': None, 'selection': None}.get(
                    fields[name]['type'], 'x')
                result = call(f'model.{model}.write', foreign[:1],
                    {name: value}, {})
                self.tried[model, 'write'] += 1
                if not refused(result):
                    self.leak(model, 'write', result)
            result = call(f'model.{model}.delete', foreign[:1], {})
            self.tried[model, 'delete'] += 1
            if not refused(result):
                self.leak(model, 'delete', result)
            if self.table_count(model) != before:
                self.leak(model, 'delete', "a row went")
        if fields.get('company', {}).get('relation') == 'company.company':
            before = self.table_count(model)
            result = call(f'model.{model}.create',
                [{'company': self.owner}], {})
            self.tried[model, 'create'] += 1
            if self.table_count(model) != before:
                self.leak(model, 'create', result)
        # Through every relational field: nothing of the target the
        # attacker cannot find itself.
        for name, field in fields.items():
            if (field.get('type') not in RELATIONAL
                    or not field.get('relation')):
                continue
            targets = self.foreign_ids(field['relation'])
            if not targets:
                continue
            result = call(f'model.{model}.search_count',
                [(f'{name}.id', 'in', targets)], {})
            self.tried[model, f'search {name}.id'] += 1
            if not refused(result) and result.get('result'):
                self.leak(model, f'search through {name}', result)

    def attack_context(self, model):
        result = self.user.call(f'model.{model}.search', [], 0, 1, None,
            {'company': self.owner})
        self.tried[model, 'company context'] += 1
        if not refused(result):
            self.leak(model, 'company context', result)

    def attack_wizards(self):
        wizards = self.admin.call('model.ir.action.wizard.search_read', [],
            0, None, None, ['wiz_name'], {})['result']
        for wizard in {w['wiz_name'] for w in wizards}:
            result = self.user.call(f'wizard.{wizard}.create', {})
            self.tried[wizard, 'wizard'] += 1
            if refused(result):
                continue
            session, start, _ = result['result']
            # The start form given the records of others, field by field.
            view = self.user.call(f'wizard.{wizard}.execute', session, {},
                start, {})
            view = (view.get('result') or {}).get('view') or {}
            state = view.get('state')
            fields = (view.get('fields_view') or {}).get('fields') or {}
            for name, field in fields.items():
                targets = (self.foreign_ids(field['relation'])
                    if field.get('type') in RELATIONAL
                    and field.get('relation') else [])
                if not targets:
                    continue
                value = (targets[0] if field['type'] in {
                        'many2one', 'one2one'} else targets)
                result = self.user.call(f'wizard.{wizard}.execute', session,
                    {state: {name: value}}, state, {})
                self.tried[wizard, f'wizard {name}'] += 1
                if not refused(result):
                    self.leak(wizard, f'wizard form {name}', result)
            self.user.call(f'wizard.{wizard}.delete', session, {})

    def attack_reports(self):
        reports = self.admin.call('model.ir.action.report.search_read',
            [('model', '!=', None)], 0, None, None,
            ['report_name', 'model'], {})['result']
        for report in reports:
            foreign = self.foreign_ids(report['model'])
            if not foreign:
                continue
            result = self.user.call(
                f'report.{report["report_name"]}.execute', foreign[:1], {},
                {})
            self.tried[report['report_name'], 'report'] += 1
            if not refused(result):
                self.leak(report['report_name'], 'report', result)


@pytest.mark.parametrize('login', ATTACKERS)
def test_tenant_wall(backoffice, login):  # noqa: F811
    url, path = backoffice
    attack = Attack(url, path, login)
    models = dict(attack.models())
    for model, fields in models.items():
        attack.attack_model(model, fields)
    for model in list(models)[::25]:
        attack.attack_context(model)
    attack.attack_wizards()
    attack.attack_reports()
    print(f"\n{login}: {len(attack.tried)} (model, operation) pairs tried "
        f"over {len(models)} models, {sum(attack.tried.values())} calls")
    assert not attack.leaks, '\n'.join(attack.leaks)


def test_read_only_role_writes_nothing(backoffice):  # noqa: F811
    """The support agent (the read-only role) may neither write, create nor
    delete in any model, nor run a wizard; it still reads"""
    url, path = backoffice
    admin, support = Session(url, 'admin'), Session(url, 'support')
    models = [r['name'] for r in admin.call('model.ir.model.search_read',
            [], 0, None, None, ['name'], {})['result']]
    access = support.call('model.ir.model.access.get_access', models,
        {})['result']
    tried = 0
    for model in models:
        for mode in ['write', 'create', 'delete']:
            tried += 1
            assert not access[model][mode], (model, mode)
    # And the server holds to it, whatever the client shows.
    (party,), = query(path, "SELECT id FROM party_party ORDER BY id LIMIT 1")
    before = query(path, "SELECT COUNT(*), MAX(write_date) FROM party_party")
    for method, params in [
            ('model.party.party.create', ([{'name': "Sneaky"}], {})),
            ('model.party.party.write', ([party], {'name': "Sneaky"}, {})),
            ('model.party.party.delete', ([party], {})),
            ('model.party.address.create', ([{'party': party}], {})),
            ]:
        tried += 1
        assert refused(support.call(method, *params)), method
    assert query(path,
        "SELECT COUNT(*), MAX(write_date) FROM party_party") == before
    assert support.call('model.party.party.search_count', [], {})['result']
    wizards = admin.call('model.ir.action.wizard.search_read', [], 0, None,
        None, ['wiz_name'], {})['result']
    for wiz_name in {w['wiz_name'] for w in wizards}:
        tried += 1
        assert refused(support.call(f'wizard.{wiz_name}.create', {})), (
            wiz_name)
    print(f"\nsupport: {tried} (model, operation) pairs tried")
