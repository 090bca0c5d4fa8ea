"""The limits of an imported rate deck (issue 16): a file beyond them is
refused before it is read, with the reason, wherever it comes from (every
import reads its file through deck_text). The limits are lowered here so
the files stay small."""
import io
import zipfile
from unittest.mock import patch

import pytest
from openpyxl import Workbook

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
    with patch.object(deck, 'MAX_DECK_BYTES', 1000):
        assert 'more than' in refusal(b'prefix,price\n' * 100, 'rates.csv')


def test_unpacked_size_of_a_bomb():
    "A small zip that unpacks big is refused from its directory alone"
    output = io.BytesIO()
    with zipfile.ZipFile(output, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('xl/worksheets/sheet1.xml', b' ' * 2_000_000)
    data = output.getvalue()
    assert len(data) < 10_000
    with patch.object(deck, 'MAX_DECK_UNPACKED', 1_000_000):
        reason = refusal(data)
    assert 'unpacks to 2 MB' in reason
    assert 'CSV' in reason


def test_rows():
    data = workbook(30)
    assert deck.deck_text(data, 'rates.xlsx').count('\n') == 31
    with patch.object(deck, 'MAX_DECK_ROWS', 20):
        assert 'more than 20 rows' in refusal(data)


def test_columns():
    with patch.object(deck, 'MAX_DECK_COLUMNS', 6):
        assert 'more than 6 columns' in refusal(workbook(3, columns=10))


def test_cells():
    with patch.object(deck, 'MAX_DECK_CELLS', 50):
        assert 'more than 50 cells' in refusal(workbook(30))
