"""Every CSV the product writes goes through here, so no cell can run as a spreadsheet
formula (CSV injection): organization, API, plan and endpoint names, descriptions and
anything else another tenant or a consumer chose end up in somebody's spreadsheet.

A text cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`,
a tab, a carriage return or a line feed, or their full-width forms, after any leading
spaces) is prefixed with `'`, which spreadsheets read as "this is text". Numbers are left
alone, whether numbers or strings holding one (`-12.50`): a number cannot be a formula,
and spreadsheets must still sum the amounts."""

import csv
import re
from collections.abc import Iterable
from decimal import Decimal

from django.http import HttpResponse

FORMULA_STARTS = frozenset("=+-@\t\r\n＝＋－＠")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value):
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int: printed True/False
        return value
    text = str(value)
    first = text.lstrip(" ")[:1]
    if first in FORMULA_STARTS and not _NUMBER.fullmatch(text.strip()):
        return "'" + text
    return text


class SafeWriter:
    """csv.writer's writerow/writerows, with every cell through `safe_cell`."""

    def __init__(self, file):
        self.writer = csv.writer(file)

    def writerow(self, row: Iterable) -> None:
        self.writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


def csv_response(filename: str, header: Iterable | None, rows: Iterable[Iterable]):
    """A CSV download: `header` (None: the rows carry their own), then `rows`, every cell
    made safe."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = SafeWriter(response)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return response
