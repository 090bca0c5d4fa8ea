"""Rate decks in and out of a plan: CSV and XLSX files (F18).

The same importer serves any table of rates with ``telecom.rate``'s
columns: a ``RateTable`` names the model and the owner's columns (a plan's
rates here; a carrier's rates of one service in telecom_lcr), and
``import_deck``/``export_deck`` do the work for any of them.

A deck is judged whole by the engine's reader (``engine.csvio``); an XLSX
sheet is turned into the same CSV text first, so there is one validator.
Only what the database adds to the engine's rules is checked here: the
plan's price digits, the tenant's time bands and, when adding, rates the
plan already has. A good deck is written with chunked multi-row INSERTs in
the caller's transaction (COPY on PostgreSQL) — never the ORM per rate.
"""
import csv
import datetime as dt
import io
import os
from decimal import Decimal
from typing import NamedTuple

from sql import As, Column
from sql.aggregate import Count

from trytond import backend
from trytond.i18n import gettext
from trytond.modules.telecom_base import upload
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import sqlite_apply_types
from trytond.transaction import Transaction, check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .cdr import bulk_insert, forget_cached, utc_now
from .engine import InvalidFile, read_rate_deck
from .engine.csvio import DECK_COLUMNS, Problem
from .exceptions import RateImportError
from .plan import PRICE_DIGITS, tariff_cache

FORMATS = [
    ('csv', "CSV"),
    ('xlsx', "Excel (XLSX)"),
    ]
# A longer list is no longer read by anyone: the rest is counted.
MAX_SHOWN_PROBLEMS = 50
XLSX_MAGIC = b'PK\x03\x04'


class RateTable(NamedTuple):
    """The rates of one deck: the records of ``model`` (telecom.rate's
    columns) whose ``owner`` columns hold these values, e.g.
    ``{'plan': 7}``; ``label`` names the owner in problems."""
    model: str
    owner: dict
    label: str = 'plan'

    def where(self, table):
        condition = None
        for name, value in self.owner.items():
            term = Column(table, name) == value
            condition = term if condition is None else condition & term
        return condition


def plan_rates(plan):
    "The own rates of ``plan``"
    return RateTable('telecom.rate', {'plan': plan.id})


def deck_format(filename, data=b''):
    "csv or xlsx, from the file's name or, failing that, its content"
    extension = os.path.splitext(filename or '')[1].lower()
    if extension in {'.xlsx', '.xlsm'}:
        return 'xlsx'
    if extension == '.csv':
        return 'csv'
    return 'xlsx' if data[:4] == XLSX_MAGIC else 'csv'


def _cell_text(value):
    "The text a CSV cell would hold for an XLSX cell value"
    if value is None:
        return ''
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # A whole number typed in a sheet is stored as a float.
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).replace('\r', ' ').replace('\n', ' ')


def xlsx_to_csv(data):
    """Return the first sheet of the workbook ``data`` as CSV text whose
    line N is the sheet's row N, so problems name the sheet's rows."""
    from openpyxl import load_workbook
    upload.check_file(data)
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        output = io.StringIO()
        writer = csv.writer(output, lineterminator='\n')
        width = None
        for number, row in upload.limit_rows(enumerate(sheet.iter_rows(
                        values_only=True, max_col=upload.MAX_COLUMNS + 1),
                    1)):
            cells = [_cell_text(v).strip() for v in row]
            if width is None:
                # Trailing empty header cells are formatting, not columns.
                while cells and not cells[-1]:
                    cells.pop()
                width = len(cells)
            else:
                # A sheet drops trailing empty cells of a row and pads
                # rows to its widest: neither is a fault of the deck.
                while len(cells) > width and not cells[-1]:
                    cells.pop()
                if any(cells):
                    cells += [''] * (width - len(cells))
            writer.writerow(cells)
        return output.getvalue()
    finally:
        workbook.close()


def deck_text(data, filename):
    """The deck ``data`` (bytes) as CSV text: an XLSX sheet is turned into
    CSV whose line N is the sheet's row N, so problems name its rows."""
    name = os.path.basename(filename or 'rates.csv')
    try:
        # The limits of every import (telecom_base.upload).
        upload.check_file(data)
        if deck_format(filename, data) == 'xlsx':
            return xlsx_to_csv(data)
    except upload.TooLarge as exception:
        raise InvalidFile([Problem(name, 1, None, str(exception))])
    except Exception as exception:
        # openpyxl raises many kinds (zip, XML, key errors).
        raise InvalidFile([Problem(name, 1, None,
                    f"not a readable XLSX workbook: {exception}")])
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as exception:
        line = data[:exception.start].count(b'\n') + 1
        raise InvalidFile([Problem(name, line, None,
                    "not UTF-8 text; save the file as CSV UTF-8")])


def read_deck(text, filename, band_names):
    """Return the engine's Rates of the CSV ``text``, or raise InvalidFile
    listing every problem."""
    name = os.path.basename(filename or 'rates.csv')
    source = io.StringIO(text, newline='')
    source.name = name
    rates = read_rate_deck(source, band_names)
    if not rates:
        raise InvalidFile([Problem(name, 1, None, "the file has no rates")])
    return rates


def data_lines(text):
    "The line of each row of the CSV ``text`` the reader makes a rate of"
    reader = csv.reader(io.StringIO(text, newline=''))
    next(reader, None)
    return [reader.line_num for values in reader
        if any(v.strip() for v in values)]


def _naive(moment):
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _datetime(value):
    "A naive UTC datetime from the database (SQLite gives text)"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value


def problems_text(problems):
    shown = [str(p) for p in problems[:MAX_SHOWN_PROBLEMS]]
    if len(problems) > MAX_SHOWN_PROBLEMS:
        shown.append(gettext('telecom_rating.msg_rate_import_more',
                count=len(problems) - MAX_SHOWN_PROBLEMS))
    return '\n'.join(shown)


def raise_invalid(filename, problems):
    error = RateImportError(gettext(
            'telecom_rating.msg_rate_import_invalid',
            file=os.path.basename(filename or 'rates.csv'),
            count=len(problems), problems=problems_text(problems)))
    error.problems = list(problems)
    raise error


def tenant_bands(company):
    "{name: id} of the time bands of ``company``"
    pool = Pool()
    Band = pool.get('telecom.time_band')
    band = Band.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*band.select(band.name, band.id,
            where=band.company == company.id, order_by=[band.id.desc]))
    # The oldest band wins a name used twice.
    return dict(cursor)


def existing_keys(rates_of, band_ids):
    "The (prefix, valid_from, band name, priority) of ``rates_of``'s rates"
    pool = Pool()
    Rate = pool.get(rates_of.model)
    rate = Rate.__table__()
    cursor = Transaction().connection.cursor()
    names = {i: n for n, i in band_ids.items()}
    query = rate.select(
        As(rate.prefix, 'c0'), As(rate.valid_from, 'c1'),
        As(rate.time_band, 'c2'), As(rate.priority, 'c3'),
        where=rates_of.where(rate))
    if backend.name == 'sqlite':
        sqlite_apply_types(query, [None, 'TIMESTAMP', None, None])
    cursor.execute(*query)
    return {(prefix, _datetime(valid_from), names.get(band), priority)
        for prefix, valid_from, band, priority in cursor}


def check_rates(rates, lines, filename, rates_of, band_ids, replace):
    """The problems the database adds to the engine's: the price digits
    and, when adding, a rate the owner (plan) already has. ``lines`` are
    the deck lines of ``rates``."""
    name = os.path.basename(filename or 'rates.csv')
    existing = set() if replace else existing_keys(rates_of, band_ids)
    digits = PRICE_DIGITS[1]
    problems = []
    for line, rate in zip(lines, rates):
        for column, value in [
                ('rate', rate.price), ('connect_fee', rate.connect_fee)]:
            if value != round(value, digits):
                problems.append(Problem(name, line, column,
                        f"{value}: more than {digits} decimals"))
        key = (rate.prefix, _naive(rate.valid_from), rate.time_band,
            rate.priority)
        if key in existing:
            problems.append(Problem(name, line, 'prefix',
                    f"the {rates_of.label} already has a rate of this "
                    "prefix, "
                    "valid_from, time_band and priority; import with "
                    "replace to change it"))
    return problems


def insert_rates(rates_of, rates, band_ids, progress=None, chunk=50_000):
    """Write the engine's ``rates`` into ``rates_of`` in bulk (multi-row
    INSERTs; COPY on PostgreSQL)"""
    pool = Pool()
    Rate = pool.get(rates_of.model)
    table = Rate.__table__()
    user, now = Transaction().user, utc_now()
    owner = list(rates_of.owner.values())
    columns = [Column(table, c) for c in rates_of.owner] + [
        table.prefix, table.destination, table.price,
        table.connect_fee, table.min_duration, table.increment_first,
        table.increment_next, table.valid_from, table.valid_to,
        table.priority, table.time_band, table.create_uid, table.create_date]
    for start in range(0, len(rates), chunk):
        bulk_insert(table, columns, (owner + [
                    r.prefix, r.destination or None, r.price,
                    r.connect_fee, r.min_duration, r.increment_first,
                    r.increment_next, _naive(r.valid_from),
                    _naive(r.valid_to), r.priority,
                    band_ids[r.time_band] if r.time_band else None,
                    user, now]
                for r in rates[start:start + chunk]))
        if progress:
            progress(min(start + chunk, len(rates)), len(rates))


def delete_rates(rates_of):
    pool = Pool()
    Rate = pool.get(rates_of.model)
    table = Rate.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.delete(where=rates_of.where(table)))
    return cursor.rowcount


def count_rates(rates_of):
    "How many rates ``rates_of`` holds: what a replace removes"
    Rate = Pool().get(rates_of.model)
    table = Rate.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(
            Count(), where=rates_of.where(table)))
    return cursor.fetchone()[0]


def _amount_text(value):
    "Without trailing zeros nor exponent: 0.0200 → 0.02, 10 → 10"
    return format(Decimal(value).normalize(), 'f')


def _instant_text(value):
    if value is None:
        return ''
    return _datetime(value).replace(tzinfo=dt.timezone.utc).isoformat()


def deck_rows(rates_of):
    "The deck rows of ``rates_of``'s rates, as DECK_COLUMNS values"
    pool = Pool()
    Rate = pool.get(rates_of.model)
    Band = pool.get('telecom.time_band')
    rate = Rate.__table__()
    band = Band.__table__()
    cursor = Transaction().connection.cursor()
    query = rate.join(band, 'LEFT', condition=rate.time_band == band.id
        ).select(
        As(rate.prefix, 'c0'), As(rate.destination, 'c1'),
        As(rate.price, 'c2'), As(rate.connect_fee, 'c3'),
        As(rate.min_duration, 'c4'), As(rate.increment_first, 'c5'),
        As(rate.increment_next, 'c6'), As(rate.valid_from, 'c7'),
        As(rate.valid_to, 'c8'), As(rate.priority, 'c9'),
        As(band.name, 'c10'),
        where=rates_of.where(rate),
        order_by=[rate.prefix, rate.id])
    if backend.name == 'sqlite':
        sqlite_apply_types(query, [None, None, 'NUMERIC', 'NUMERIC', None,
                None, None, 'TIMESTAMP', 'TIMESTAMP', None, None])
    cursor.execute(*query)
    for (prefix, destination, price, connect_fee, minimum, first, next_,
            valid_from, valid_to, priority, band_name) in cursor:
        yield (prefix, destination or '', Decimal(price),
            Decimal(connect_fee), minimum, first, next_, valid_from,
            valid_to, priority, band_name or '')


def _xlsx_amount(value):
    "A number when a sheet's float holds it exactly, else its text"
    if Decimal(repr(float(value))) == value:
        return float(value)
    return _amount_text(value)


def _xlsx(rows):
    from openpyxl import Workbook
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet('rates')
    sheet.append(DECK_COLUMNS)
    for (prefix, destination, price, connect_fee, minimum, first, next_,
            valid_from, valid_to, priority, band_name) in rows:
        # Prefixes stay text: a number would lose leading zeros. Instants
        # are naive datetimes read back as UTC.
        sheet.append([prefix, destination or None, _xlsx_amount(price),
                _xlsx_amount(connect_fee), minimum, first, next_,
                _datetime(valid_from), _datetime(valid_to), priority,
                band_name or None])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _csv(rows):
    output = io.StringIO()
    writer = csv.writer(output, lineterminator='\n')
    writer.writerow(DECK_COLUMNS)
    for (prefix, destination, price, connect_fee, minimum, first, next_,
            valid_from, valid_to, priority, band_name) in rows:
        writer.writerow((prefix, destination, _amount_text(price),
                _amount_text(connect_fee), minimum, first, next_,
                _instant_text(valid_from), _instant_text(valid_to),
                priority, band_name))
    return output.getvalue().encode('utf-8')


class DeckOwnerMixin:
    """A record that owns a rate deck (a plan, a carrier): the *Import
    Rates* and *Export Rates* buttons, and the access each needs."""
    __slots__ = ()

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'import_rates_button': {
                    'invisible': Eval('id', -1) < 0,
                    'depends': ['id'],
                    },
                'export_rates_button': {
                    'invisible': Eval('id', -1) < 0,
                    'depends': ['id'],
                    },
                })

    def _check_deck_access(self, rate_model, replace=None):
        """Check the user may change this record's rates of ``rate_model``
        (``replace`` True or False: an import) or read them (None)."""
        ModelAccess = Pool().get('ir.model.access')
        with check_access():
            if replace is None:
                self.__class__.read([self.id], ['id'])
                ModelAccess.check(rate_model, 'read')
            else:
                # The record rules: a tenant changes its own decks only.
                self.__class__.write([self], {})
                ModelAccess.check(rate_model, 'create')
                if replace:
                    ModelAccess.check(rate_model, 'delete')


class RatePlan(DeckOwnerMixin, metaclass=PoolMeta):
    __name__ = 'telecom.rate.plan'

    @classmethod
    @ModelView.button_action('telecom_rating.wizard_import_rates')
    def import_rates_button(cls, plans):
        pass

    @classmethod
    @ModelView.button_action('telecom_rating.wizard_export_rates')
    def export_rates_button(cls, plans):
        pass

    def import_rates(self, data, filename, replace=False, progress=None):
        """Apply the deck ``data`` (bytes of a CSV or XLSX file named
        ``filename``) to the plan; return (imported, removed).

        ``replace``: the plan's rates become the deck's; otherwise the
        deck's are added. A deck with any problem raises RateImportError
        listing them all, and nothing is applied. ``progress(done, total)``
        is called as rates are written.
        """
        self._check_deck_access('telecom.rate', replace)
        result = import_deck(plan_rates(self), self.company, data, filename,
            replace=replace, progress=progress)
        forget_cached(self.__class__)
        return result

    def rate_count(self):
        "The number of the plan's own rates, which a replace removes"
        self._check_deck_access('telecom.rate')
        return count_rates(plan_rates(self))

    def export_rates(self, format='csv'):
        "Return the plan's own rates as a deck file (bytes) of ``format``"
        self._check_deck_access('telecom.rate')
        return export_deck(plan_rates(self), format)


def import_deck(rates_of, company, data, filename, replace=False,
        progress=None):
    """Apply the deck ``data`` (bytes of a CSV or XLSX file named
    ``filename``) to ``rates_of``, whose time bands are ``company``'s;
    return (imported, removed). The caller checks access. A deck with any
    problem raises RateImportError listing them all; nothing is applied."""
    pool = Pool()
    Rate = pool.get(rates_of.model)
    band_ids = tenant_bands(company)
    try:
        text = deck_text(data, filename)
        rates = read_deck(text, filename, set(band_ids))
    except InvalidFile as exception:
        raise_invalid(filename, exception.problems)
    problems = check_rates(
        rates, data_lines(text), filename, rates_of, band_ids, replace)
    if problems:
        raise_invalid(filename, problems)
    removed = delete_rates(rates_of) if replace else 0
    insert_rates(rates_of, rates, band_ids, progress=progress)
    tariff_cache.clear()
    forget_cached(Rate)
    return len(rates), removed


def export_deck(rates_of, format='csv'):
    """Return the rates of ``rates_of`` as a deck file (bytes) of
    ``format``; the caller checks access."""
    rows = deck_rows(rates_of)
    return _xlsx(rows) if format == 'xlsx' else _csv(rows)


def deck_filename(name, id_, format='csv'):
    name = ''.join(c if c.isalnum() or c in '-_' else '-'
        for c in name).strip('-') or f'plan-{id_}'
    return f'{name}-rates.{format}'


class ImportRatesStart(ModelView):
    "Import Rates"
    __name__ = 'telecom.rate.plan.import_rates.start'
    file = fields.Binary(
        "File", filename='filename', required=True,
        help="A CSV (UTF-8) or XLSX deck with the columns prefix, "
        "destination, rate, connect_fee, min_duration, increment_first, "
        "increment_next, valid_from, valid_to, priority, time_band.")
    filename = fields.Char("File Name")
    mode = fields.Selection([
            ('add', "Add to the rates"),
            ('replace', "Replace all rates"),
            ], "Mode", required=True,
        help="Add: the file's rates are added; a rate the plan already has "
        "rejects the file. Replace: the plan's rates become those of the "
        "file, after a confirmation showing how many rates it removes.")

    @classmethod
    def default_mode(cls):
        # Adding never loses a rate; replacing is asked for and confirmed.
        return 'add'


class ImportRatesConfirm(ModelView):
    "Import Rates"
    __name__ = 'telecom.rate.plan.import_rates.confirm'
    removed = fields.Integer("Rates to Remove", readonly=True,
        help="The rates that replacing removes before the file's are "
        "imported.")


class ImportRatesDone(ModelView):
    "Import Rates"
    __name__ = 'telecom.rate.plan.import_rates.done'
    imported = fields.Integer("Imported Rates", readonly=True)
    removed = fields.Integer("Removed Rates", readonly=True)


def replace_confirmation():
    """The state of an import wizard that asks before a replace, showing
    how many rates it removes (see ImportDeckMixin.default_confirm)"""
    return StateView(
        'telecom.rate.plan.import_rates.confirm',
        'telecom_rating.rate_plan_import_rates_confirm_view_form', [
            Button("Cancel", 'end', 'tryton-cancel', default=True),
            Button("Replace", 'import_', 'tryton-ok'),
            ])


class ImportDeckMixin:
    """What importing a deck does, for the wizards of every record that owns
    one; each wizard declares its own states (Tryton copies a state from
    the class that first defines it, so a subclass could not replace it)."""
    __slots__ = ()

    def _import_options(self):
        "Keyword arguments of the record's import_rates beyond the file"
        return {}

    def transition_check(self):
        "A replace goes through a confirmation first"
        return 'confirm' if self.start.mode == 'replace' else 'import_'

    def default_confirm(self, fields):
        return {'removed': self.record.rate_count(**self._import_options())}

    def transition_import_(self):
        imported, removed = self.record.import_rates(
            self.start.file, self.start.filename or 'rates.csv',
            replace=self.start.mode == 'replace', **self._import_options())
        self.done.imported = imported
        self.done.removed = removed
        return 'done'

    def default_done(self, fields):
        return {'imported': self.done.imported, 'removed': self.done.removed}


class ImportRates(ImportDeckMixin, Wizard):
    "Import Rates"
    __name__ = 'telecom.rate.plan.import_rates'
    start = StateView(
        'telecom.rate.plan.import_rates.start',
        'telecom_rating.rate_plan_import_rates_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'check', 'tryton-ok', default=True),
            ])
    check = StateTransition()
    confirm = replace_confirmation()
    import_ = StateTransition()
    done = StateView(
        'telecom.rate.plan.import_rates.done',
        'telecom_rating.rate_plan_import_rates_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])


class ExportRatesStart(ModelView):
    "Export Rates"
    __name__ = 'telecom.rate.plan.export_rates.start'
    format = fields.Selection(FORMATS, "Format", required=True)

    @classmethod
    def default_format(cls):
        return 'csv'


class ExportRatesResult(ModelView):
    "Export Rates"
    __name__ = 'telecom.rate.plan.export_rates.result'
    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)


class ExportDeckMixin:
    "What exporting a deck does, for the wizards of every record owning one"
    __slots__ = ()

    def _export(self, format_):
        "Return the record's deck (bytes) of ``format_`` and its file's name"
        return (self.record.export_rates(format_),
            deck_filename(self.record.name, self.record.id, format_))

    def transition_export(self):
        self.result.file, self.result.filename = self._export(
            self.start.format)
        return 'result'

    def default_result(self, fields):
        return {'file': self.result.file, 'filename': self.result.filename}


class ExportRates(ExportDeckMixin, Wizard):
    "Export Rates"
    __name__ = 'telecom.rate.plan.export_rates'
    start = StateView(
        'telecom.rate.plan.export_rates.start',
        'telecom_rating.rate_plan_export_rates_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView(
        'telecom.rate.plan.export_rates.result',
        'telecom_rating.rate_plan_export_rates_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])
