"""Streaming writers of a report's table to a local file: CSV for Excel, XLSX, JSON. A row is written as it
comes, so an export's memory does not grow with its size.

CSV is UTF-8 with a BOM and CRLF line endings: without the BOM, Excel reads UTF-8 as the system's code page
and Chinese text turns to mojibake. A text cell that starts with = + - @ tab or CR is prefixed with a single
quote, so a spreadsheet never runs it as a formula (OWASP "CSV injection").
"""

import csv
import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

from django.utils.encoding import force_str
from django.utils.functional import Promise
from django.utils.text import capfirst

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def csv_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value


def _iso(value: Any) -> Any:
    """The contract's timestamps: ISO 8601 in UTC with Z."""
    if isinstance(value, datetime):
        return _utc(value).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _plain(value: Any) -> Any:
    """A cell as a JSON value: numbers (not-a-number and infinities as null), text, booleans, null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date):
        return _iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return force_str(value)


class Writer:
    """Writes a header, then rows, to `path`; close() finishes the file (whole or, on an error, to be deleted)."""

    extension = ""

    def __init__(self, path: str, *, meta: dict[str, Any]) -> None:
        self.path, self.meta = path, meta

    def header(self, columns: Sequence[Any]) -> None:
        raise NotImplementedError

    def row(self, values: Sequence[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Release the file after a failure (the caller deletes it)."""
        file = getattr(self, "file", None)
        if file is not None and not file.closed:
            file.close()


class CsvWriter(Writer):
    extension = "csv"

    def __init__(self, path: str, *, meta: dict[str, Any]) -> None:
        super().__init__(path, meta=meta)
        # utf-8-sig writes the BOM once, at the start; newline="" leaves the line endings to the csv module.
        self.file: IO[str] = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self.writer = csv.writer(self.file, lineterminator="\r\n")

    @staticmethod
    def cell(value: Any) -> Any:
        value = _plain(value)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return csv_safe(value)
        return value

    def header(self, columns: Sequence[Any]) -> None:
        self.writer.writerow([csv_safe(column_name(column)) for column in columns])

    def row(self, values: Sequence[Any]) -> None:
        self.writer.writerow([self.cell(value) for value in values])

    def close(self) -> None:
        self.file.close()


class XlsxWriter(Writer):
    """openpyxl's write-only mode: rows go to a temporary XML file as they come, not into memory."""

    extension = "xlsx"

    def __init__(self, path: str, *, meta: dict[str, Any]) -> None:
        # Imported here: a worker that never writes a spreadsheet does not hold openpyxl.
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Font

        super().__init__(path, meta=meta)
        self.make_cell, self.illegal = WriteOnlyCell, ILLEGAL_CHARACTERS_RE
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title=sheet_title(meta.get("title", "")))
        self.bold = Font(bold=True)

    def cell(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return _utc(value).replace(tzinfo=None)  # Excel has no time zones: UTC, as everywhere in the API
        value = _plain(value)
        if isinstance(value, str):
            cell = self.make_cell(self.sheet, value=self.illegal.sub("", value))
            # openpyxl would store text starting with "=" as a formula: keep every text a text.
            cell.data_type = "s"
            return cell
        return value

    def header(self, columns: Sequence[Any]) -> None:
        cells = []
        for column in columns:
            cell = self.cell(column_name(column))
            cell.font = self.bold
            cells.append(cell)
        self.sheet.append(cells)

    def row(self, values: Sequence[Any]) -> None:
        self.sheet.append([self.cell(value) for value in values])

    def close(self) -> None:
        self.book.save(self.path)


class JsonWriter(Writer):
    """`{"report", "params", "generated_at", "columns": [...], "rows": [[...], ...]}`, one row per line."""

    extension = "json"

    def __init__(self, path: str, *, meta: dict[str, Any]) -> None:
        super().__init__(path, meta=meta)
        self.file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.first = True

    @staticmethod
    def _dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    def header(self, columns: Sequence[Any]) -> None:
        head = {
            "report": self.meta.get("report", ""),
            "params": self.meta.get("params", {}),
            "generated_at": _iso(self.meta.get("generated_at")),
            "columns": [column_name(column) for column in columns],
        }
        self.file.write(self._dumps(head)[:-1] + ',"rows":[')

    def row(self, values: Sequence[Any]) -> None:
        self.file.write(("\n" if self.first else ",\n") + self._dumps([_plain(value) for value in values]))
        self.first = False

    def close(self) -> None:
        self.file.write("\n]}\n")
        self.file.close()


WRITERS: dict[str, type[Writer]] = {"csv": CsvWriter, "xlsx": XlsxWriter, "json": JsonWriter}


def column_name(column: Any) -> str:
    """A column's name as written: a translatable name (a verbose name, lower case) translated with its first
    letter capitalized, as Django's admin shows a field; plain text (a metric's name: `f1_macro`) as it is."""
    return str(capfirst(force_str(column))) if isinstance(column, Promise) else force_str(column)


def sheet_title(title: Any) -> str:
    """Excel's rules for a sheet's name: 1 to 31 characters, none of []:*?/\\."""
    text = _SHEET_FORBIDDEN.sub(" ", column_name(title)).strip().strip("'")[:31]
    return text or "Sheet1"


def writer_for(fmt: str, path: str, *, meta: dict[str, Any]) -> Writer:
    return WRITERS[fmt](path, meta=meta)
