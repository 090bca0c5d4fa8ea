"""Rows of an uploaded CSV or XLSX file (no model: the rows only).

Imports read a file all-or-nothing: every row is checked first and every
error names its line and column, so an operator fixes the whole file in
one go and a refused file writes nothing.
"""
import csv
import io
import zipfile

from trytond.modules.telecom_base import upload

XLSX_MAGIC = b'PK\x03\x04'


class SheetError(ValueError):
    "The file cannot be read as a table."


def read_rows(data):
    """Yield (line number, {column: text}) of ``data`` (bytes): an XLSX
    workbook's first sheet or a CSV file (comma or semicolon), the first
    line giving the column names (lower-cased, stripped). Within the
    limits of every import (telecom_base.upload)."""
    try:
        upload.check_file(data)
    except upload.TooLarge as exception:
        raise SheetError(str(exception)) from exception
    if data[:4] == XLSX_MAGIC:
        rows = _xlsx_rows(data)
    else:
        rows = _csv_rows(data)
    try:
        yield from _named(upload.limit_rows(rows))
    except upload.TooLarge as exception:
        raise SheetError(str(exception)) from exception


def _named(rows):
    header = None
    for line, cells in rows:
        if header is None:
            header = [(c or '').strip().lower() for c in cells]
            continue
        if not any((c or '').strip() for c in cells):
            continue
        yield line, {
            name: (cells[i] or '').strip() if i < len(cells) else ''
            for i, name in enumerate(header) if name}


def _csv_rows(data):
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exception:
        raise SheetError(
            "the file is neither UTF-8 CSV nor XLSX") from exception
    first = text.split('\n', 1)[0]
    delimiter = ';' if first.count(';') > first.count(',') else ','
    for line, cells in enumerate(
            csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        yield line, cells


def _xlsx_rows(data):
    # openpyxl in read-only mode streams the sheet: a million rows are
    # read without holding the workbook in memory.
    import openpyxl
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError) as exception:
        raise SheetError(
            f"the file is not a readable XLSX workbook: {exception}"
            ) from exception
    sheet = workbook.worksheets[0]
    for line, values in enumerate(sheet.iter_rows(
                values_only=True, max_col=upload.MAX_COLUMNS + 1), 1):
        yield line, [_cell_text(v) for v in values]
    workbook.close()


def _cell_text(value):
    if value is None:
        return ''
    if isinstance(value, float) and value.is_integer():
        # A number typed in a spreadsheet cell comes back as a float.
        return str(int(value))
    return str(value)
