"""The limits of every import (issue 16, telecom_base.upload): a file
beyond them is refused before it is read, with the reason — a rate deck
wherever it comes from (every deck import reads its file through
deck_text), a number inventory (telecom_number). The limits are lowered
here so the files stay small."""
import io
import zipfile
from unittest.mock import patch

import pytest
from openpyxl import Workbook

from trytond.modules.telecom_base import upload
from trytond.modules.telecom_number.sheet import SheetError, read_rows
from trytond.modules.telecom_rating import deck
from trytond.modules.telecom_rating.engine import InvalidFile


def workbook(rows, columns=4):
    book = Workbook()
    sheet = book.active
    sheet.append(['prefix', 'destination', 'price', 'increment'][:columns]
        + [f'extra{i}' for i in range(columns - 4)])
    for row in range(rows):
        sheet.append([f'44{row}', 'UK', 0.01, 60] + ['x'] * (columns - 4))
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def refusal(data, filename='rates.xlsx'):
    with pytest.raises(InvalidFile) as raised:
        deck.deck_text(data, filename)
    problem, = raised.value.problems
    return problem.reason


def test_file_size():
    with patch.object(upload, 'MAX_BYTES', 1000):
        assert 'more than' in refusal(b'prefix,price\n' * 100, 'rates.csv')


def bomb():
    "A small zip that unpacks to 2 MB"
    output = io.BytesIO()
    with zipfile.ZipFile(output, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('xl/worksheets/sheet1.xml', b' ' * 2_000_000)
    data = output.getvalue()
    assert len(data) < 10_000
    return data


def test_unpacked_size_of_a_bomb():
    "A small zip that unpacks big is refused from its directory alone"
    with patch.object(upload, 'MAX_UNPACKED', 1_000_000):
        reason = refusal(bomb())
    assert 'unpacks to 2 MB' in reason
    assert 'CSV' in reason


def numbers_refusal(data):
    with pytest.raises(SheetError) as raised:
        list(read_rows(data))
    return str(raised.value)


def test_number_inventory_within_the_same_limits():
    "The numbers import is held to the same limits as the decks"
    with patch.object(upload, 'MAX_UNPACKED', 1_000_000):
        assert 'unpacks to 2 MB' in numbers_refusal(bomb())
    with patch.object(upload, 'MAX_BYTES', 1000):
        assert 'more than' in numbers_refusal(b'number\n44\n' * 200)
    data = workbook(30)
    assert len(list(read_rows(data))) == 30
    with patch.object(upload, 'MAX_ROWS', 20):
        assert 'more than 20 rows' in numbers_refusal(data)
    with patch.object(upload, 'MAX_CELLS', 50):
        assert 'more than 50 cells' in numbers_refusal(data)
    with patch.object(upload, 'MAX_COLUMNS', 6):
        assert 'more than 6 columns' in numbers_refusal(
            workbook(3, columns=10))


def test_rows():
    data = workbook(30)
    assert deck.deck_text(data, 'rates.xlsx').count('\n') == 31
    with patch.object(upload, 'MAX_ROWS', 20):
        assert 'more than 20 rows' in refusal(data)


def test_columns():
    with patch.object(upload, 'MAX_COLUMNS', 6):
        assert 'more than 6 columns' in refusal(workbook(3, columns=10))


def test_cells():
    with patch.object(upload, 'MAX_CELLS', 50):
        assert 'more than 50 cells' in refusal(workbook(30))
