"""The limits of every file an import reads, in one place (issue 16): rate
decks (telecom_rating, telecom_lcr; back office, portal, command line) and
number inventories (telecom_number). No trytond import.

A file is refused before it is read when it is too big, or — an XLSX
workbook, a zip — when its directory says it unpacks to too much (a
466 kB workbook unpacked to a sheet of about 1 GB kept the portal busy for
minutes); while it is read, at the first row beyond the rows, columns or
cells allowed. The reason says which limit and what to do.

Sized for the largest real files: a carrier's full deck is some 100,000
rows of a dozen columns (10-20 MB of CSV); a number inventory a million
rows of a few columns."""
import io
import zipfile

MAX_BYTES = 50 * 1024 * 1024
MAX_UNPACKED = 200 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_COLUMNS = 50
MAX_CELLS = 10_000_000


class TooLarge(ValueError):
    "A file beyond the limits: the reason says which and what to do"


def _mb(size):
    return f'{size / 1024 / 1024:.0f} MB'


def check_file(data):
    """Refuse ``data`` (bytes) larger than MAX_BYTES, and a zip (XLSX)
    that unpacks to more than MAX_UNPACKED, from its directory, before
    anything is unpacked"""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the file is {_mb(len(data))}, more than "
            f"{_mb(MAX_BYTES)}; split it")
    if data[:4] != b'PK\x03\x04':
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile:
        # Not a workbook: its reader says so.
        return
    if unpacked > MAX_UNPACKED:
        raise TooLarge(
            f"the workbook unpacks to {_mb(unpacked)}, more than "
            f"{_mb(MAX_UNPACKED)}; save it as CSV or split it")


def limit_rows(rows):
    """``rows`` — (row number, cells) — checked against MAX_ROWS,
    MAX_COLUMNS and MAX_CELLS as they are read. A row's trailing empty
    cells (a sheet pads its rows) do not count as columns."""
    cells_read = 0
    for number, cells in rows:
        if number > MAX_ROWS:
            raise TooLarge(f"more than {MAX_ROWS} rows; split the file")
        width = len(cells)
        while width and cells[width - 1] in (None, ''):
            width -= 1
        if width > MAX_COLUMNS:
            raise TooLarge(f"row {number} has more than {MAX_COLUMNS} "
                "columns")
        cells_read += len(cells)
        if cells_read > MAX_CELLS:
            raise TooLarge(f"more than {MAX_CELLS} cells; split the file")
        yield number, cells
