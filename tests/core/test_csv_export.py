"""No CSV cell the product writes can run as a spreadsheet formula, and every CSV goes
through the one writer that makes sure of it."""

import ast
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from apps.core.csv_export import SafeWriter, safe_cell

APPS = Path(__file__).resolve().parents[2] / "apps"


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.test","click")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "  =1+1",
        "＝1+1",
        "-",
        "+",
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_is_made_text(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["Monthly fee", "/tiles", "", "a=b", "user@example.com", "-12.50", "+3", "1e-5", "0.20"],
)
def test_other_cells_and_numbers_are_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_stay_numbers_and_none_is_empty():
    assert safe_cell(Decimal("-12.50")) == Decimal("-12.50")
    assert safe_cell(-3) == -3 and safe_cell(None) == ""


def test_the_writer_makes_every_cell_safe():
    out = io.StringIO()
    SafeWriter(out).writerows([["=1+1", Decimal("-1.00"), "ok"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=1+1", "-1.00", "ok"]]


def test_no_module_writes_csv_except_through_the_safe_writer():
    writers = []
    for path in APPS.rglob("*.py"):
        if path.name == "csv_export.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                module = getattr(node, "module", None) or ""
                if "csv" in names or module == "csv":
                    writers.append(str(path.relative_to(APPS)))
    assert writers == [], "write CSV with apps.core.csv_export, which defuses formulas"
