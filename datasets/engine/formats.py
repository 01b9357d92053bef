"""Reading uploads: which format a file is in (detect), a cheap look at its head (check_sample) and its canonical
Parquet copy (convert).

Text files are read as UTF-8 (with or without a BOM) or GB18030 (the superset of GBK that Excel writes for Chinese
users). CSV, TSV, JSON Lines and Parquet are converted with polars' streaming engine: memory stays bounded by the
engine's buffers, not the file (measured on 1,000,000 x 20 rows of CSV, 178 MB: about 300 MB over the process's
baseline; twice the file, 80 MB more). JSON arrays and xlsx workbooks are read into memory (see _convert_json,
_convert_xlsx).

Column types for CSV and TSV come from the values, the way a data scientist expects: a column is boolean, integer,
float, date, datetime or time when every non-empty value of the whole column reads as one (fitted on a prefix,
checked against the whole file as it is written), else string. A value is never turned into null by a parse:
only the empty field is null, and the markers in NULL_TOKENS in a column that gets a non-string type. Codes stay
strings: numbers with a leading zero, integers too long for 64 bits. JSON, JSON Lines and xlsx keep their own
types, and their string columns of ISO dates and times get those types too.

Blank lines, and rows whose fields are all empty, are dropped (as the xlsx reader drops empty rows); a row with
fewer fields than the header is padded with nulls; a row with more is a ParseFailure.
"""

import codecs
import contextlib
import csv
import io
import json
import os
import posixpath
import re
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ParseFailure, UnsupportedFormat
from .messages import gettext as _
from .schema import columns_of, parquet_options
from .terms import CONTENT_TYPES, EXTENSIONS, FORMATS, Converted, extension_of, format_of_extension  # noqa: F401

# Plain text that is read as CSV or TSV, whichever its delimiter says.
TEXT_EXTENSIONS = (".txt",)

# How much of a file detect and check_sample read, and how many records check_sample looks at: both run inside the
# upload's HTTP request.
HEAD_BYTES = 1 << 20
SAMPLE_RECORDS = 1000
# Column types are fitted on SNIFF_ROWS rows (trying every type), then on PREFIX_ROWS (trying what fitted); the
# whole file is read again only when a later value does not fit.
PREFIX_ROWS = 20_000
SNIFF_ROWS = 500
# ...but the prefix holds at most this many values (fewer rows for a wide file, never fewer than SNIFF_ROWS): 20,000
# rows of 1,500 columns took 700 MB and 16 s to fit, when the whole file was 117 MB.
PREFIX_CELLS = 20 * PREFIX_ROWS
# Rows per batch when counting over a whole file, and columns per query when counting.
BATCH_ROWS = 100_000
COLUMNS_PER_SELECT = 200
CHUNK_BYTES = 1 << 20
# The pieces polars' CSV reader cuts a file into (POLARS_CSV_CHUNK_SIZE, which polars reads at every scan). Its
# default grows with the file: converting the 150 MB CSV of bench/datasets.py held 200 MB more than the process at
# rest, and 30 MB with 4 MiB pieces, no slower. Smaller ones slow wide files down (1 MiB: 1,500 columns took 36 s
# instead of 21). An operator's own setting is kept.
POLARS_CSV_CHUNK_BYTES = 4 << 20
os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(POLARS_CSV_CHUNK_BYTES))

DELIMITERS = (",", "\t", ";", "|")
# Values that mean "no value" in a column that gets a number, boolean or date type (pandas reads these as NaN too).
# A string column keeps them as they are. The empty field is null in every column.
NULL_TOKENS = ("", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "#N/A")

_POLARS_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException)
# The blank-row filter reads every column: pushing it down into the CSV scan takes polars' planner a time quadratic
# in the column count (16 s for 1,500 columns), and gains nothing.
_OPTIMIZATIONS = pl.QueryOptFlags(predicate_pushdown=False)

# Magic numbers of files people upload by mistake, with what to tell them.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"BM", "bmp"),
    (b"RIFF", "image"),
    (b"\x1f\x8b", "compressed"),
    (b"BZh", "compressed"),
    (b"\xfd7zXZ", "compressed"),
    (b"7z\xbc\xaf", "compressed"),
    (b"Rar!", "compressed"),
    (b"\x28\xb5\x2f\xfd", "compressed"),
    (b"SQLite format 3", "other"),
    (b"ARROW1", "other"),
)


@dataclass
class Detected:
    """What detect found: one of FORMATS; for text formats the encoding (a Python codec name: "utf-8", "utf-8-sig"
    for UTF-8 with a BOM, or "gb18030"); for CSV and TSV the delimiter; the format's content type."""

    format: str
    encoding: str | None
    delimiter: str | None
    content_type: str


def _detected(fmt: str, encoding: str | None = None, delimiter: str | None = None) -> Detected:
    return Detected(format=fmt, encoding=encoding, delimiter=delimiter, content_type=CONTENT_TYPES[fmt])


def _unsupported(kind: str = "other") -> UnsupportedFormat:
    supported = _("Upload CSV, TSV, JSON, JSON Lines, Parquet or Excel (.xlsx).")
    messages = {
        "empty": _("The file is empty."),
        "ole": _("Legacy Excel (.xls) files and password-protected workbooks are not supported: save it as .xlsx."),
        "xlsb": _("Excel binary workbooks (.xlsb) are not supported: save it as .xlsx."),
        "zip": _("ZIP archives are not supported: upload the file inside it."),
        "utf16": _("UTF-16 text is not supported: save the file as UTF-8."),
        "encoding": _("The file is not UTF-8 or GB18030 (GBK) text: save it as UTF-8."),
        "json": _("A JSON file must hold an array of objects, or one object per line (JSON Lines)."),
    }
    message = messages.get(kind, _("This type of file is not supported."))
    if kind not in ("empty", "ole", "xlsb", "utf16", "encoding"):
        # Two sentences: English puts a space between them, Chinese does not (the catalogue says so).
        message = _("%(problem)s %(advice)s") % {"problem": message, "advice": supported}
    return UnsupportedFormat(message, kind=kind)


# --- detect -----------------------------------------------------------------------------------------------------


def detect(path: str, file_name: str) -> Detected:
    """The format of the file at `path`, uploaded as `file_name`, by its extension and its content: the content wins
    when it says something else (a Parquet file named data.csv is Parquet). Raises UnsupportedFormat for anything
    else (xls, PDF, ZIP, images, empty or binary files, UTF-16 text) and ParseFailure for a damaged Parquet or xlsx
    file or text with an invalid byte in its head."""
    ext = extension_of(file_name)
    size = os.path.getsize(path)
    if size == 0:
        raise _unsupported("empty")
    with open(path, "rb") as stream:
        head = stream.read(HEAD_BYTES)
        stream.seek(max(size - 4, 0))
        tail = stream.read(4)
    complete = len(head) == size

    if head.startswith(b"PAR1"):
        if size >= 12 and tail == b"PAR1":
            return _detected("parquet")
        raise ParseFailure(_("The Parquet file is truncated or damaged."))
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _detect_zip(path, ext)
    for magic, kind in _BINARY_MAGIC:
        if head.startswith(magic):
            if kind == "bmp" and not _looks_binary(head):
                break  # "BM" also starts text, e.g. a header "BMI,..."
            raise _unsupported(kind)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _unsupported("utf16")
    if _looks_binary(head):
        raise _unsupported()
    encoding, text = _decode_head(head, complete)
    return _detect_text(text, complete, ext, encoding)


def _detect_zip(path: str, ext: str) -> Detected:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        if format_of_extension(ext) == "xlsx":
            raise ParseFailure(_("The Excel file is truncated or damaged.")) from error
        raise _unsupported("zip") from error
    if "xl/workbook.xml" in names:
        return _detected("xlsx")
    if "xl/workbook.bin" in names:
        raise _unsupported("xlsb")
    raise _unsupported("zip")


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more control characters than text has (tab, newlines, form feed and escape aside)."""
    if b"\x00" in head:
        return True
    controls = sum(head.count(bytes([byte])) for byte in (*range(1, 9), 11, *range(14, 27), 28, 29, 30, 31))
    return controls > max(len(head) // 100, 0)


def _decode_head(head: bytes, complete: bool) -> tuple[str, str]:
    """(encoding, text) of a file's first bytes. An incremental decoder is told the head is not the end of the file,
    so a character cut at the end of the head does not count against an encoding."""
    if head.startswith(codecs.BOM_UTF8):
        try:
            return "utf-8-sig", codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=complete)
        except UnicodeDecodeError as error:
            raise ParseFailure(
                _("Line %(row)d is not valid UTF-8 text.") % {"row": _line_at(head, error.start)},
                row=_line_at(head, error.start),
            ) from error
    try:
        return "utf-8", codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        pass
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(head, final=complete)
    except UnicodeDecodeError as error:
        raise _unsupported("encoding") from error
    if not _plausibly_chinese(text):
        # Latin-1 and other single-byte text often decodes as GB18030 too, into nonsense.
        raise _unsupported("encoding")
    return "gb18030", text


_CJK = re.compile(r"[\u2010-\u203f\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u00b7]")


def _plausibly_chinese(text: str) -> bool:
    non_ascii = sum(1 for char in text if ord(char) > 127)
    return non_ascii == 0 or len(_CJK.findall(text)) * 2 >= non_ascii


def _line_at(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _whole_lines(text: str, complete: bool) -> str:
    """The head's text without its last, probably cut, line."""
    if complete:
        return text
    end = text.rfind("\n")
    return text[: end + 1] if end >= 0 else text


def _header_lines(text: str, complete: bool) -> str:
    """The whole lines of a CSV or TSV file's head, which must hold the header line: a header longer than the head
    was checked cut in two (a name cut short read as a repeated one, or as none)."""
    if not complete and "\n" not in text.lstrip("\ufeff\r\n"):
        raise ParseFailure(
            _("The header line is longer than %(limit)d MiB: files with that many columns are not supported.")
            % {"limit": HEAD_BYTES >> 20},
            row=1,
        )
    return _whole_lines(text, complete)


def _detect_text(text: str, complete: bool, ext: str, encoding: str) -> Detected:
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        raise _unsupported("empty")
    named = format_of_extension(ext)
    delimited_name = named in ("csv", "tsv") or ext in TEXT_EXTENSIONS
    if body[0] == "[" and (not delimited_name or re.match(r"\[\s*[{\]]", body)):
        return _detected("json", encoding)
    if body[0] == "{":
        first_line = body.split("\n", 1)[0].strip()
        if _is_json_object(first_line):
            return _detected("jsonl", encoding)
        if named in ("json", "jsonl"):
            raise _unsupported("json")
    delimiter, width, consistent = _sniff_delimiter(
        _whole_lines(text, complete), default="\t" if named == "tsv" else ","
    )
    if not delimited_name and (width < 2 or not consistent):
        raise _unsupported()
    if named in ("csv", "tsv"):
        fmt = named
    else:
        fmt = "tsv" if delimiter == "\t" else "csv"
    return _detected(fmt, encoding, delimiter)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _sniff_delimiter(text: str, *, default: str) -> tuple[str, int, bool]:
    """(delimiter, fields in the header, whether most records have as many) for the first records of `text`,
    parsed with each candidate delimiter (quotes respected). The most consistent candidate with at least two
    fields wins; ties go to `default`, then to the order of DELIMITERS."""
    best: tuple[float, int, str] | None = None
    for delimiter in (default, *(d for d in DELIMITERS if d != default)):
        counts = []
        with contextlib.suppress(ParseFailure):
            for _line, row in _records(io.StringIO(text, newline=""), delimiter, limit=50, partial=True):
                counts.append(len(row))
        if not counts or counts[0] < 2:
            continue
        consistency = sum(1 for count in counts if count == counts[0]) / len(counts)
        if best is None or consistency > best[0]:
            best = (consistency, counts[0], delimiter)
    if best is None:
        return default, 1, False
    return best[2], best[1], best[0] >= 0.9


# --- CSV records, the exact (slow) way --------------------------------------------------------------------------


def _allow_big_fields() -> None:
    # The csv module refuses fields over 128 KiB by default; a long text cell is not an error. (Process-wide.)
    if csv.field_size_limit() < 1 << 30:
        csv.field_size_limit(1 << 30)


def _records(
    stream: Iterable[str], delimiter: str, *, limit: int | None = None, partial: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each non-empty record, read with Python's csv module, which reports where a record
    starts (polars does not). A quote left open raises ParseFailure, unless `partial` says the text is a cut head
    (the quoted field may go on after the cut)."""
    _allow_big_fields()
    lines = _RecordText(stream)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    line = 1
    count = 0
    while limit is None or count < limit:
        lines.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if partial and "unexpected end of data" in str(error):
                return
            column = _quote_column("".join(lines.text), delimiter)
            if column is None:
                message = _(
                    "Line %(row)d is not valid CSV: a quote is not closed, or is followed by other characters."
                ) % {"row": line}
            else:
                message = _(
                    "Line %(row)d, column %(column)d is not valid CSV: a quote is not closed, or is followed by "
                    "other characters."
                ) % {"row": line, "column": column}
            raise ParseFailure(message, row=line, column=column) from error
        start, line = line, reader.line_num + 1
        if row:
            count += 1
            yield start, row


class _RecordText:
    """The lines of a stream, keeping the start (LIMIT characters) of those read since clear(): the text of
    the record the csv module is reading, to tell which of its fields a quote went wrong in."""

    LIMIT = 1 << 20  # an open quote runs to the end of the file; where it opened is near the start

    def __init__(self, stream: Iterable[str]) -> None:
        self.stream = iter(stream)
        self.text: list[str] = []
        self.size = 0

    def __iter__(self) -> "_RecordText":
        return self

    def __next__(self) -> str:
        line = next(self.stream)
        if self.size < self.LIMIT:
            kept = line[: self.LIMIT - self.size]
            self.text.append(kept)
            self.size += len(kept)
        return line

    def clear(self) -> None:
        self.text.clear()
        self.size = 0


def _quote_column(text: str, delimiter: str) -> int | None:
    """The 1-based field of a CSV record's `text` where a quote goes wrong: one never closed, or a closing quote
    followed by something other than the delimiter or the line's end (as the csv module's strict mode reads it;
    a quote inside an unquoted field is a plain character). None when the text shows no such problem."""
    column, at_start, quoted, index = 1, True, False, 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"':
                if text.startswith('"', index + 1):  # "" inside quotes: one quote
                    index += 2
                    continue
                quoted = False
                following = text[index + 1 : index + 2]
                if following not in ("", delimiter, "\r", "\n"):
                    return column
        elif char == '"' and at_start:
            quoted = True
        elif char == delimiter:
            column += 1
            at_start = True
            index += 1
            continue
        elif char in "\r\n":
            return None
        at_start = False
        index += 1
    return column if quoted else None


def _check_header(names: list[str], row: int) -> None:
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise ParseFailure(
                _("Column %(column)d of the header (line %(row)d) has no name.") % {"column": number, "row": row},
                row=row,
                column=number,
            )
        if name in seen:
            raise ParseFailure(
                _("The column name “%(name)s” appears more than once in the header (column %(column)d).")
                % {"name": name, "column": number},
                row=row,
                column=number,
            )
        seen.add(name)


def _too_many_fields(row: int, found: int, expected: int) -> ParseFailure:
    return ParseFailure(
        _("Line %(row)d has %(found)d fields, but the header has %(expected)d.")
        % {"row": row, "found": found, "expected": expected},
        row=row,
        column=expected + 1,
    )


def _check_csv_records(records: Iterator[tuple[int, list[str]]]) -> int:
    """Checks the header and that no record has more fields than it; returns the header's width."""
    header = next(records, None)
    if header is None:
        raise ParseFailure(_("The file has no header line."))
    line, names = header
    _check_header(names, line)
    for line, row in records:
        if len(row) > len(names):
            raise _too_many_fields(line, len(row), len(names))
    return len(names)


# --- check_sample ------------------------------------------------------------------------------------------------


def check_sample(path: str, detected: Detected) -> None:
    """A quick check of the file's head (about HEAD_BYTES and SAMPLE_RECORDS records), cheap enough for the upload's
    HTTP request: raises ParseFailure with `row` and `column` where they are known (see errors.ParseFailure).
    convert checks the whole file."""
    fmt = detected.format
    if fmt in ("csv", "tsv"):
        text, complete = _read_head_text(path, detected.encoding or "utf-8")
        records = _records(
            io.StringIO(_header_lines(text, complete), newline=""),
            detected.delimiter or ",",
            limit=SAMPLE_RECORDS,
            partial=not complete,
        )
        _check_csv_records(records)
    elif fmt == "json":
        text, complete = _read_head_text(path, detected.encoding or "utf-8")
        _check_json_array(text, complete=complete, limit=SAMPLE_RECORDS)
        if complete:  # the whole file is in hand: read as its conversion reads it, so what fails there fails now
            _json_frame(text.removeprefix("\ufeff"))
    elif fmt == "jsonl":
        text, complete = _read_head_text(path, detected.encoding or "utf-8")
        lines = _whole_lines(text, complete).encode("utf-8").splitlines(keepends=True)
        _check_json_lines(lines, limit=SAMPLE_RECORDS)
        if complete:
            _check_json_lines_readable(lines)
    elif fmt == "parquet":
        _check_parquet(path)
    elif fmt == "xlsx":
        _check_xlsx_header(path)
    else:
        raise _unsupported()


def _read_head_text(path: str, encoding: str) -> tuple[str, bool]:
    with open(path, "rb") as stream:
        head = stream.read(HEAD_BYTES)
        complete = not stream.read(1)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError as error:
        row = _line_at(head, error.start)
        raise ParseFailure(
            _("Line %(row)d is not valid %(encoding)s text.") % {"row": row, "encoding": _encoding_label(encoding)},
            row=row,
        ) from error
    return text.removeprefix("\ufeff"), complete


def _encoding_label(encoding: str) -> str:
    return "GB18030" if encoding == "gb18030" else "UTF-8"


def _check_json_array(text: str, *, complete: bool, limit: int | None = None) -> None:
    """Walks the array's records one by one (json.JSONDecoder.raw_decode) to say which one is broken: the 1-based
    record number is the `row`."""
    decoder = json.JSONDecoder()
    end = len(text)
    position = _skip_space(text, 0)
    if position >= end or text[position] != "[":
        raise _unsupported("json")
    position += 1
    record = 0
    while limit is None or record < limit:
        position = _skip_space(text, position)
        if position >= end:
            if complete:
                raise ParseFailure(_("The JSON array is not closed."), row=record + 1)
            return
        if record == 0 and text[position] == "]":
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            if not complete and (error.pos >= end - 16 or error.msg.startswith("Unterminated string")):
                return  # the record goes on after the head
            raise _bad_json_record(record + 1) from error
        except RecursionError as error:
            raise _bad_json_record(record + 1) from error
        record += 1
        if not isinstance(value, dict):
            raise ParseFailure(_("Record %(row)d is not a JSON object.") % {"row": record}, row=record)
        position = _skip_space(text, position)
        if position >= end:
            if complete:
                raise ParseFailure(_("The JSON array is not closed."), row=record)
            return
        if text[position] == ",":
            position += 1
            continue
        if text[position] == "]":
            break
        raise _bad_json_record(record + 1)
    else:
        return
    if complete and _skip_space(text, position + 1) < end:
        raise ParseFailure(_("There is more text after the end of the JSON array."))
    if complete and record == 0:
        raise ParseFailure(_("The JSON array is empty: there are no records and no columns."))


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _bad_json_record(row: int) -> ParseFailure:
    return ParseFailure(_("Record %(row)d is not valid JSON.") % {"row": row}, row=row)


def _check_json_lines(lines: Iterable[bytes], *, limit: int | None = None, kinds: bool = False) -> None:
    """Each non-blank line must be a JSON object; `row` is the line number. With `kinds`, also reports a column
    whose values mix objects, arrays and plain values (which polars cannot put in one column)."""
    seen: dict[str, str] = {}
    count = 0
    for number, line in enumerate(lines, start=1):
        if limit is not None and count >= limit:
            return
        stripped = line.strip()
        if number == 1:
            stripped = stripped.removeprefix(codecs.BOM_UTF8)
        if not stripped:
            continue
        count += 1
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError) as error:
            raise ParseFailure(_("Line %(row)d is not valid JSON.") % {"row": number}, row=number) from error
        if not isinstance(value, dict):
            raise ParseFailure(_("Line %(row)d is not a JSON object.") % {"row": number}, row=number)
        if kinds:
            _check_kinds(value, seen, number)


def _check_kinds(record: dict[str, Any], seen: dict[str, str], row: int) -> None:
    for name, value in record.items():
        if value is None:
            continue
        kind = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "value"
        if seen.setdefault(name, kind) != kind:
            raise ParseFailure(
                _("Record %(row)d: the column “%(column)s” mixes objects, lists and plain values.")
                % {"row": row, "column": name},
                row=row,
                column=name,
            )


def _check_parquet(path: str) -> None:
    """The footer only: it must be readable, by pyarrow and polars, with unique column names."""
    damaged = _("The Parquet file is damaged, or uses features that cannot be read.")
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as error:
        raise ParseFailure(damaged) from error
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise ParseFailure(
                _("The column name “%(name)s” appears more than once (column %(column)d).")
                % {"name": name, "column": number},
                column=number,
            )
        seen.add(name)
    try:
        pl.read_parquet_schema(path)
    except _POLARS_ERRORS as error:
        raise ParseFailure(damaged) from error


# --- xlsx header, read from the sheet's XML (calamine parses a whole sheet to give its first row) ---------------

_XL = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _check_xlsx_header(path: str) -> None:
    header = _xlsx_header(path)
    if header is None:
        raise ParseFailure(_("The first sheet is empty."))
    row, cells = header
    first = min(cells)
    names = [cells.get(column, "") for column in range(first, max(cells) + 1)]
    _check_header(names, row)


def _xlsx_header(path: str) -> tuple[int, dict[int, str]] | None:
    """(Excel row number, {Excel column number: text}) of the first sheet's first non-empty row, None for an empty
    sheet. Reads the sheet's XML only up to that row."""
    try:
        with zipfile.ZipFile(path) as archive:
            sheet, shared_strings = _xlsx_parts(archive)
            found = _first_row(archive, sheet)
            if found is None:
                return None
            row, raw = found
            needed = {int(value) for value, kind in raw.values() if kind == "s"}
            strings = _shared_strings(archive, shared_strings, needed) if needed else {}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, ET.ParseError) as error:
        raise ParseFailure(_("The Excel file is damaged.")) from error
    cells = {}
    for column, (value, kind) in raw.items():
        text = strings.get(int(value), "") if kind == "s" else _cell_text(value, kind)
        if text.strip():
            cells[column] = text
    if not cells:
        raise ParseFailure(_("Row %(row)d, the header, has no column names.") % {"row": row}, row=row)
    return row, cells


def _xlsx_parts(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first sheet's path in the archive, and the shared strings' path if there is one."""
    workbook = ET.fromstring(archive.read("xl/workbook.xml"))
    first = workbook.find(f"{_XL}sheets/{_XL}sheet")
    if first is None:
        raise ValueError("no sheet")
    sheet_id = first.get(f"{_DOC_REL}id")
    relations = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    sheet = shared = None
    for relation in relations.iter(f"{_PKG_REL}Relationship"):
        target = relation.get("Target", "")
        target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        if relation.get("Id") == sheet_id:
            sheet = target
        elif relation.get("Type", "").endswith("/sharedStrings"):
            shared = target
    if sheet is None:
        raise ValueError("no sheet")
    return sheet, shared


def _first_row(archive: zipfile.ZipFile, sheet: str) -> tuple[int, dict[int, tuple[str, str]]] | None:
    with archive.open(sheet) as stream:
        number = 0
        for _event, element in ET.iterparse(stream):
            if element.tag != f"{_XL}row":
                continue
            number = int(element.get("r") or number + 1)
            cells: dict[int, tuple[str, str]] = {}
            position = 0
            for cell in element.iter(f"{_XL}c"):
                reference = cell.get("r")
                position = _column_number(reference) if reference else position + 1
                kind = cell.get("t", "n")
                if kind == "inlineStr":
                    value = "".join(node.text or "" for node in cell.iter(f"{_XL}t"))
                else:
                    node = cell.find(f"{_XL}v")
                    value = node.text or "" if node is not None else ""
                if value:
                    cells[position] = (value, kind)
            element.clear()
            if any(kind == "s" or value.strip() for value, kind in cells.values()):
                return number, cells
    return None


def _column_number(reference: str) -> int:
    number = 0
    for char in reference:
        if not char.isalpha():
            break
        number = number * 26 + ord(char.upper()) - 64
    return number


def _shared_strings(archive: zipfile.ZipFile, path: str | None, needed: set[int]) -> dict[int, str]:
    strings: dict[int, str] = {}
    if path is None:
        return strings
    last = max(needed)
    with archive.open(path) as stream:
        index = 0
        for _event, element in ET.iterparse(stream):
            if element.tag != f"{_XL}si":
                continue
            if index in needed:
                parts = [child.text or "" for child in element if child.tag == f"{_XL}t"]
                parts += [node.text or "" for run in element.iter(f"{_XL}r") for node in run.iter(f"{_XL}t")]
                strings[index] = "".join(parts)
            element.clear()
            index += 1
            if index > last:
                break
    return strings


def _cell_text(value: str, kind: str) -> str:
    if kind == "b":
        return "true" if value == "1" else "false"
    if kind == "n":
        with contextlib.suppress(ValueError):
            number = float(value)
            return str(int(number)) if number.is_integer() else str(number)
    return value


# --- column types ------------------------------------------------------------------------------------------------

# A parse reads a cleaned string column as one type: not strict, it gives null for a value it cannot read (callers
# count them); strict, it raises.
_Parse = Callable[[pl.Expr, bool], pl.Expr]


def _clean(column: pl.Expr) -> pl.Expr:
    # when/is_in rather than replace(): polars plans replace() in a time quadratic in the number of columns.
    stripped = column.str.strip_chars()
    return pl.when(stripped.is_in(list(NULL_TOKENS))).then(None).otherwise(stripped)


def _as_boolean(value: pl.Expr, strict: bool) -> pl.Expr:
    lowered = value.str.to_lowercase()
    if strict:
        # Through a strict integer parse, which raises on the marked other values. Not replace_strict(): in a
        # streaming query it holds on to memory in proportion to the file (600 MB more for 350 MB of CSV).
        digits = pl.when(lowered == "true").then(pl.lit("1")).when(lowered == "false").then(pl.lit("0"))
        return digits.otherwise(pl.lit("not a boolean: ") + lowered).str.to_integer(strict=True).cast(pl.Boolean)
    return pl.when(lowered == "true").then(True).when(lowered == "false").then(False)


def _numeric(value: pl.Expr) -> pl.Expr:
    # A leading zero ("007", zip codes, phone numbers, ids) means a code, not a number: that column stays a string.
    return pl.when(value.str.contains(r"^[+-]?0\d")).then(pl.lit("leading zero")).otherwise(value)


def _as_integer(value: pl.Expr, strict: bool) -> pl.Expr:
    return _numeric(value).str.to_integer(strict=strict)


def _as_float(value: pl.Expr, strict: bool) -> pl.Expr:
    # An integer of 16 digits or more that is not an Int64 (an id, a card number) would lose digits as a float.
    long_integer = value.str.contains(r"^[+-]?\d{16,}$")
    return _numeric(pl.when(long_integer).then(pl.lit("long integer")).otherwise(value)).cast(pl.Float64, strict=strict)


def _as_float_decimal_comma(value: pl.Expr, strict: bool) -> pl.Expr:
    # "3,5" as semicolon-separated CSVs from continental Europe write 3.5.
    comma = value.str.contains(",", literal=True) & ~value.str.contains(".", literal=True)
    return _as_float(pl.when(comma).then(value.str.replace(",", ".", literal=True)).otherwise(value), strict)


def _as_date(fmt: str) -> _Parse:
    return lambda value, strict: value.str.to_date(fmt, strict=strict)


def _as_datetime(fmt: str) -> _Parse:
    return lambda value, strict: value.str.replace("T", " ", literal=True).str.to_datetime(
        fmt, strict=strict, time_unit="us"
    )


def _as_time(fmt: str) -> _Parse:
    return lambda value, strict: value.str.to_time(fmt, strict=strict)


# Tried in this order; the first that reads every non-empty value of a column is its type. Datetimes with an offset
# or "Z" become UTC.
_TEMPORAL: tuple[_Parse, ...] = (
    _as_date("%Y-%m-%d"),
    _as_date("%Y/%m/%d"),
    _as_datetime("%Y-%m-%d %H:%M:%S"),  # polars' fast path: most files have no fractions
    _as_datetime("%Y-%m-%d %H:%M:%S%.f"),
    _as_datetime("%Y-%m-%d %H:%M"),
    _as_datetime("%Y/%m/%d %H:%M:%S%.f"),
    _as_datetime("%Y/%m/%d %H:%M"),
    _as_datetime("%Y-%m-%d %H:%M:%S%.f%#z"),
    _as_time("%H:%M:%S%.f"),
    _as_time("%H:%M"),
)
_TEXT_TYPES: tuple[_Parse, ...] = (_as_boolean, _as_integer, _as_float, *_TEMPORAL)
_TEXT_TYPES_DECIMAL_COMMA: tuple[_Parse, ...] = (
    _as_boolean,
    _as_integer,
    _as_float,
    _as_float_decimal_comma,
    *_TEMPORAL,
)


def _count_parses(frame: pl.DataFrame, candidates: dict[str, tuple[_Parse, ...]]) -> dict[str, int]:
    """The rows of `frame`, and per column the count of its non-empty values and of the values each candidate parse
    reads (see _fits). Eager and by groups of columns on purpose: polars' lazy planner takes a time quadratic in
    the number of expressions (a file of 1,500 columns took 30 s to plan), the eager path does not."""
    counts = {"rows": frame.height}
    items = list(enumerate(candidates.items()))
    for start in range(0, len(items), COLUMNS_PER_SELECT):
        group = items[start : start + COLUMNS_PER_SELECT]
        # Cleaned once per column, then counted: polars does not share the parses' repeated `_clean` (see _sink).
        cleaned = frame.select([_clean(pl.col(name)).alias(name) for _index, (name, _parses) in group])
        aggregations = []
        for index, (name, parses) in group:
            value = pl.col(name)
            aggregations.append(value.is_not_null().sum().alias(f"{index}"))
            aggregations += [
                parse(value, False).is_not_null().sum().alias(f"{index}:{number}")
                for number, parse in enumerate(parses)
            ]
        counts.update(cleaned.select(aggregations).row(0, named=True))
    return counts


def _counts(frame: pl.LazyFrame, candidates: dict[str, tuple[_Parse, ...]], rows: int) -> dict[str, int]:
    """_count_parses over the first `rows` rows of `frame`."""
    return _count_parses(frame.head(rows).collect(optimizations=_OPTIMIZATIONS), candidates)


def _counts_in_parquet(path: str, candidates: dict[str, tuple[_Parse, ...]]) -> dict[str, int]:
    """_count_parses over a whole Parquet file, batch by batch: memory stays bounded (polars' collect_batches
    reads ahead of a slower consumer without limit) and each batch is counted eagerly."""
    total: dict[str, int] = {}
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=list(candidates)):
        frame = pl.DataFrame(batch)
        for key, count in _count_parses(frame, candidates).items():
            total[key] = total.get(key, 0) + count
    return total


def _fits(
    counts: dict[str, int], candidates: dict[str, tuple[_Parse, ...]]
) -> tuple[int, dict[str, tuple[_Parse, ...] | None]]:
    """(rows, {column: those of its candidates that read all its non-empty values, in order, or None when it has
    no value}) from _counts."""
    fits: dict[str, tuple[_Parse, ...] | None] = {}
    for index, (name, parses) in enumerate(candidates.items()):
        values = counts.get(f"{index}", 0)
        fitting = tuple(parse for number, parse in enumerate(parses) if counts.get(f"{index}:{number}", 0) == values)
        fits[name] = fitting if values else None
    return counts.get("rows", 0), fits


def _fit_types(
    scan: Callable[[], pl.LazyFrame], parses: tuple[_Parse, ...]
) -> tuple[dict[str, tuple[_Parse, ...]], set[str], bool]:
    """(candidates, unseen, complete): for each string column that may get a type, the parses that read its values
    in a prefix, fitted on SNIFF_ROWS rows with every parse, then on PREFIX_ROWS (fewer for a wide file, see
    PREFIX_CELLS) with what fitted (so a string
    column costs nothing after the first stage); `unseen`, the columns with no value in the prefix (all parses are
    their candidates); `complete`, whether the prefix was the whole file."""
    schema = scan().collect_schema()
    strings = [name for name, dtype in schema.items() if dtype == pl.String]
    fits: dict[str, tuple[_Parse, ...] | None] = dict.fromkeys(strings)
    complete = False
    prefix = max(SNIFF_ROWS, min(PREFIX_ROWS, PREFIX_CELLS // max(len(schema), 1)))
    for rows in sorted({SNIFF_ROWS, prefix}):
        candidates = {name: parses if fit is None else fit for name, fit in fits.items() if fit != ()}
        if not candidates:
            break
        read, found = _fits(_counts(scan(), candidates, rows), candidates)
        fits.update(found)
        if read < rows:
            complete = True
            break
    unseen = {name for name, fit in fits.items() if fit is None and not complete}
    candidates = {name: parses if fit is None else fit for name, fit in fits.items() if fit}
    candidates.update(dict.fromkeys(unseen, parses))
    return candidates, unseen, complete


def _write_typed(scan: Callable[[], pl.LazyFrame], part: str, parses: tuple[_Parse, ...]) -> None:
    """Writes `scan()` to `part` with its string columns typed, never losing a value to a parse. Types are fitted
    on a prefix (_fit_types) and the file is written with strict parses: one pass when they hold. When a later value
    does not fit (the write fails), the file is written as strings to a scratch Parquet file, the typed columns'
    candidates are counted on it, and the file is written again with what fits. Columns without a value in the
    prefix are written as strings, then fitted on the written Parquet (a columnar read of mostly nulls: cheap),
    and the file written again when they have a type after all. A structural error (say, a ragged line) propagates
    as the polars error.

    Memory stays bounded: counts go batch by batch, and every typed write reads the source itself. (Reading a
    Parquet file back through heavy expressions does not: polars' Parquet source reads ahead of them without limit,
    1 GB more for 700 MB of CSV.)"""
    candidates, unseen, complete = _fit_types(scan, parses)
    chosen = {name: fit[0] for name, fit in candidates.items() if name not in unseen}
    try:
        _sink(scan(), chosen, part, strict=True)
    except _POLARS_ERRORS:
        if not chosen:
            raise
        strings = part + ".strings"  # in atomic_output's directory, as `part` is
        _sink_parquet(scan(), strings, compression="lz4")
        counted = {name: fit for name, fit in candidates.items() if name not in unseen}
        _rows, found = _fits(_counts_in_parquet(strings, counted), counted)
        os.remove(strings)
        chosen = {name: fit[0] for name, fit in found.items() if fit}
        _sink(scan(), chosen, part, strict=False)
    if complete or not unseen:
        return
    later = {name: parses for name in unseen}
    _rows, found = _fits(_counts_in_parquet(part, later), later)
    typed = {name: fit[0] for name, fit in found.items() if fit}
    if typed:
        # What `chosen` holds has been written once without a failure: every value fits.
        _sink(scan(), chosen | typed, part, strict=False)


def _sink(frame: pl.LazyFrame, parses: dict[str, _Parse], part: str, *, strict: bool) -> None:
    """Writes `frame` with `parses` applied. Not strict, a value a parse cannot read would become null: the caller
    has counted that there is none."""
    if parses:
        # Cleaned, then parsed, in two steps: a parse reads its value up to four times (the leading-zero and long
        # integer checks, the cast), and polars' streaming engine shares no common subexpression, so one step
        # stripped and looked up every value that often (bench/datasets.py: the typed write of 150 MB of CSV took
        # 5.3 s in one step, 3.8 s in two).
        frame = frame.with_columns([_clean(pl.col(name)).alias(name) for name in parses])
        frame = frame.with_columns([parse(pl.col(name), strict).alias(name) for name, parse in parses.items()])
    _sink_parquet(frame, part, **parquet_options(len(frame.collect_schema())))


def _sink_parquet(frame: pl.LazyFrame, path: str, **options: Any) -> None:
    """frame.sink_parquet to `path` by way of a fresh name: polars may still create a failed sink's file just after
    the sink has returned (see atomic_output), and that must not land on a later attempt's file."""
    attempt = f"{path}.{uuid.uuid4().hex}"
    frame.sink_parquet(attempt, **options, optimizations=_OPTIMIZATIONS)
    os.replace(attempt, path)


def _type_frame(frame: pl.DataFrame, parses: tuple[_Parse, ...]) -> pl.DataFrame:
    """_write_typed for a frame in memory: the string columns whose every value fits a parse get its type."""
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not strings:
        return frame
    candidates = dict.fromkeys(strings, parses)
    _rows, fits = _fits(_count_parses(frame, candidates), candidates)
    chosen = {name: fit[0] for name, fit in fits.items() if fit}
    frame = frame.with_columns([_clean(pl.col(name)).alias(name) for name in chosen])
    return frame.with_columns([parse(pl.col(name), False).alias(name) for name, parse in chosen.items()])


# --- convert -----------------------------------------------------------------------------------------------------


def convert(path: str, detected: Detected, dst_path: str) -> Converted:
    """Writes the canonical Parquet copy of the file at `path` to `dst_path` (schema.parquet_options) and returns
    its rows and columns, with details {"encoding", "delimiter"} for text formats. Raises ParseFailure with `row`
    and `column` where they are known. Written atomically (atomic_output): on any error nothing is left behind."""
    with atomic_output(dst_path) as (out, workdir):
        details = _convert(path, detected, out, workdir)
    converted = columns_of(dst_path)
    try:
        _check_names([column["name"] for column in converted.columns])
    except ParseFailure:
        os.unlink(dst_path)
        raise
    converted.details = details
    return converted


def _check_names(names: list[str]) -> None:
    """Column names every reader can use, whatever the format said (a Parquet file or JSON keys may say anything):
    not blank, and without a NUL character, which PostgreSQL cannot store in the version's columns."""
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise ParseFailure(_("Column %(column)d has no name.") % {"column": number}, column=number)
        if "\x00" in name:
            raise ParseFailure(
                _("The name of column %(column)d contains a NUL character.") % {"column": number}, column=number
            )


@contextlib.contextmanager
def atomic_output(dst_path: str) -> Iterator[tuple[str, str]]:
    """(file to write, scratch directory), both in a private directory created next to `dst_path`
    (".<name>.part-XXXX"): the file is renamed to `dst_path` when the block ends without error, and the directory
    removed in every case. Not a fixed "<dst>.part" name: polars may still create a sink's file just after the
    failed sink has returned, which would bring a deleted .part file back; it cannot create one in a removed
    directory."""
    workdir = tempfile.mkdtemp(
        prefix=f".{os.path.basename(dst_path)}.part-", dir=os.path.dirname(os.path.abspath(dst_path))
    )
    try:
        out = os.path.join(workdir, "output")
        yield out, workdir
        os.replace(out, dst_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _convert(path: str, detected: Detected, part: str, workdir: str) -> dict[str, Any]:
    fmt = detected.format
    if fmt in ("csv", "tsv"):
        return _convert_csv(path, detected.encoding or "utf-8", detected.delimiter or ",", part, workdir)
    if fmt == "jsonl":
        return _convert_jsonl(path, detected.encoding or "utf-8", part, workdir)
    if fmt == "json":
        return _convert_json(path, detected.encoding or "utf-8", part)
    if fmt == "parquet":
        return _convert_parquet(path, part)
    if fmt == "xlsx":
        return _convert_xlsx(path, part)
    raise _unsupported()


def _utf8_source(path: str, encoding: str, workdir: str, *, keep_bom: bool) -> tuple[str, str]:
    """(path of the file's text as UTF-8, the encoding it was read in). GB18030 is transcoded to a temporary file
    (streaming); UTF-8 is checked (one fast pass) and used in place, or copied without its BOM unless `keep_bom`.
    A file announced as UTF-8 whose first invalid byte comes after ASCII text only (the head detect saw held no
    Chinese) is read as GB18030 when all of it decodes so."""
    if encoding == "gb18030":
        return _transcode(path, os.path.join(workdir, "utf8"), "gb18030"), encoding
    problem = _first_invalid_utf8(path)
    if problem is not None:
        line, ascii_before = problem
        if ascii_before:
            with contextlib.suppress(ParseFailure):
                return _transcode(path, os.path.join(workdir, "utf8"), "gb18030"), "gb18030"
        raise ParseFailure(_("Line %(row)d is not valid UTF-8 text.") % {"row": line}, row=line)
    if encoding == "utf-8-sig" and not keep_bom:
        return _transcode(path, os.path.join(workdir, "utf8"), "utf-8-sig"), encoding
    return path, encoding


def _transcode(path: str, dst: str, encoding: str) -> str:
    """Decodes `path` from `encoding` chunk by chunk (an incremental decoder keeps a character cut between chunks)
    into UTF-8 at `dst`; an invalid byte raises ParseFailure with its line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as source, open(dst, "w", encoding="utf-8", newline="") as target:
        while chunk := source.read(CHUNK_BYTES):
            try:
                target.write(decoder.decode(chunk))
            except UnicodeDecodeError as error:
                row = line + chunk.count(b"\n", 0, max(error.start, 0))
                raise ParseFailure(
                    _("Line %(row)d is not valid %(encoding)s text.")
                    % {"row": row, "encoding": _encoding_label(encoding)},
                    row=row,
                ) from error
            line += chunk.count(b"\n")
        try:
            target.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as error:
            raise ParseFailure(
                _("Line %(row)d is not valid %(encoding)s text.")
                % {"row": line, "encoding": _encoding_label(encoding)},
                row=line,
            ) from error
    return dst


def _first_invalid_utf8(path: str) -> tuple[int, bool] | None:
    """(line of the first byte that is not UTF-8, whether only ASCII came before it), or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    ascii_so_far = True
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES * 8):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                start = max(error.start, 0)
                return line + chunk.count(b"\n", 0, start), ascii_so_far and chunk[:start].isascii()
            line += chunk.count(b"\n")
            ascii_so_far = ascii_so_far and chunk.isascii()
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return line, ascii_so_far
    return None


def _scan_csv(path: str, delimiter: str) -> pl.LazyFrame:
    frame = pl.scan_csv(
        path,
        separator=delimiter,
        quote_char='"',
        infer_schema=False,
        null_values=[""],
        encoding="utf8",
    )
    # Blank lines and rows of empty fields are dropped, as the xlsx reader drops empty rows.
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))


def _convert_csv(path: str, encoding: str, delimiter: str, part: str, workdir: str) -> dict[str, Any]:
    parses = _TEXT_TYPES_DECIMAL_COMMA if delimiter == ";" else _TEXT_TYPES
    details = {"encoding": encoding, "delimiter": delimiter}
    if encoding in ("utf-8", "utf-8-sig"):
        # polars checks UTF-8 as it reads (every column is read as text first), so a valid file, the usual case,
        # is read once rather than decoded in Python first (0.55 s of the 150 MB in bench/datasets.py). Invalid
        # bytes fail this attempt (in the head, as Python decodes it; further on, in polars), and the checked
        # way below says on which line, or reads a GB18030 file announced as UTF-8 by an ASCII head.
        try:
            if _csv_by_polars(path, delimiter, part, parses):
                return details
        except (*_POLARS_ERRORS, UnicodeDecodeError):
            pass
    source, encoding = _utf8_source(path, encoding, workdir, keep_bom=True)
    details["encoding"] = encoding
    # A transcoded copy is new to polars; the file itself, valid UTF-8, already failed it above.
    if source != path and _csv_by_polars(source, delimiter, part, parses):
        return details
    # The slow, exact way: Python's csv module reports the first broken record with its line and column, or
    # rewrites the file as plain RFC 4180 (stray quotes inside fields, "\r" line ends) for polars to read.
    normalized = os.path.join(workdir, "normalized.csv")
    _normalize_csv(source, delimiter, normalized)
    try:
        _write_typed(lambda: _scan_csv(normalized, ","), part, parses)
    except _POLARS_ERRORS as error:
        raise ParseFailure(_("The file could not be read as CSV.")) from error
    return details


def _csv_by_polars(source: str, delimiter: str, part: str, parses: tuple[_Parse, ...]) -> bool:
    """Writes the UTF-8 CSV at `source` to `part` with polars' reader; False when that reader cannot take it
    (then the exact way must). Raises ParseFailure for a missing or broken header."""
    with open(source, encoding="utf-8-sig", newline="") as stream:
        head = stream.read(HEAD_BYTES)
        complete = len(head) < HEAD_BYTES
        header = next(_records(io.StringIO(_header_lines(head, complete), newline=""), delimiter, partial=True), None)
    if header is None:
        raise ParseFailure(_("The file has no header line."))
    _check_header(header[1], header[0])
    # polars reads "\n" and "\r\n" line ends only; a file with old Mac "\r" ones goes the exact way directly.
    if "\n" not in head and "\r" in head:
        return False
    try:
        names = pl.scan_csv(source, separator=delimiter, infer_schema=False, n_rows=0).collect_schema().names()
    except _POLARS_ERRORS:
        return False
    if names != [*header[1]]:
        return False
    try:
        _write_typed(lambda: _scan_csv(source, delimiter), part, parses)
    except _POLARS_ERRORS:
        return False  # the exact way says where, or rewrites what polars' reader does not take
    return True


def _normalize_csv(source: str, delimiter: str, dst: str) -> None:
    with open(source, encoding="utf-8-sig", newline="") as stream, open(dst, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        records = _records(stream, delimiter)
        header = next(records, None)
        if header is None:
            raise ParseFailure(_("The file has no header line."))
        _check_header(header[1], header[0])
        width = len(header[1])
        writer.writerow(header[1])
        for line, row in records:
            if len(row) > width:
                raise _too_many_fields(line, len(row), width)
            writer.writerow(row + [""] * (width - len(row)))


def _convert_jsonl(path: str, encoding: str, part: str, workdir: str) -> dict[str, Any]:
    source, encoding = _utf8_source(path, encoding, workdir, keep_bom=False)
    try:
        try:
            _write_typed(lambda: pl.scan_ndjson(source, infer_schema_length=PREFIX_ROWS), part, _TEMPORAL)
        except _POLARS_ERRORS:
            # A value that does not fit the types of the first records: infer them on all of them.
            _write_typed(lambda: pl.scan_ndjson(source, infer_schema_length=None), part, _TEMPORAL)
    except _POLARS_ERRORS as error:
        with open(source, "rb") as stream:
            _check_json_lines(stream, kinds=True)
        raise ParseFailure(_("The file could not be read as JSON Lines.")) from error
    return {"encoding": encoding}


def _convert_json(path: str, encoding: str, part: str) -> dict[str, Any]:
    # A JSON array is one value: it is read whole, into memory (the upload's size limit bounds it).
    with open(path, "rb") as stream:
        data = stream.read()
    text = _decode_whole(data, encoding)
    del data
    if encoding == "gb18030" or text.startswith("\ufeff"):
        encoding = encoding if encoding == "gb18030" else "utf-8-sig"
    text = text.removeprefix("\ufeff")
    frame = _json_frame(text)
    _type_frame(frame, _TEMPORAL).write_parquet(part, **parquet_options(frame.width))
    return {"encoding": encoding}


def _json_frame(text: str) -> pl.DataFrame:
    """The JSON array `text` read as a frame; ParseFailure with the record (and the column mixing objects, lists
    and plain values) where polars cannot read it, or when it has no column."""
    try:
        frame = pl.read_json(io.BytesIO(text.encode("utf-8")), infer_schema_length=None)
    except _POLARS_ERRORS as error:
        _check_json_array(text, complete=True)
        _check_array_kinds(text)
        raise ParseFailure(_("The file could not be read as JSON.")) from error
    if frame.width == 0:
        _check_json_array(text, complete=True)
        raise ParseFailure(_("The JSON array is empty: there are no records and no columns."))
    return frame


def _check_json_lines_readable(lines: list[bytes]) -> None:
    """Reads the whole of a small JSON Lines file as its conversion does (all records inferred), for the upload's
    check: ParseFailure with the line (and the column mixing kinds) where polars cannot read it."""
    try:
        pl.read_ndjson(io.BytesIO(b"".join(lines).removeprefix(codecs.BOM_UTF8)), infer_schema_length=None)
    except _POLARS_ERRORS as error:
        _check_json_lines(lines, kinds=True)
        raise ParseFailure(_("The file could not be read as JSON Lines.")) from error


def _decode_whole(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding != "gb18030" and data[: error.start].isascii():
            with contextlib.suppress(UnicodeDecodeError):
                return data.decode("gb18030")
        line = _line_at(data, error.start)
        raise ParseFailure(
            _("Line %(line)d is not valid %(encoding)s text.") % {"line": line, "encoding": _encoding_label(encoding)}
        ) from error


def _check_array_kinds(text: str) -> None:
    try:
        records = json.loads(text)
    except (ValueError, RecursionError):
        return
    seen: dict[str, str] = {}
    for number, record in enumerate(records, start=1):
        _check_kinds(record, seen, number)


def _convert_parquet(path: str, part: str) -> dict[str, Any]:
    _check_parquet(path)
    try:
        frame = pl.scan_parquet(path)
        _sink_parquet(frame, part, **parquet_options(len(frame.collect_schema())))
    except _POLARS_ERRORS as error:
        raise ParseFailure(_("The Parquet file is damaged, or uses features that cannot be read.")) from error
    return {}


_GENERATED_NAME = re.compile(r"__UNNAMED__\d+")


def _convert_xlsx(path: str, part: str) -> dict[str, Any]:
    # The first sheet is read whole, into memory: calamine has no streaming reader (the upload's size limit, and
    # Excel's own 1,048,576 rows, bound it).
    header = _xlsx_header(path)
    if header is None:
        raise ParseFailure(_("The first sheet is empty."))
    row, cells = header
    _check_header([cells.get(column, "") for column in range(min(cells), max(cells) + 1)], row)
    try:
        frame = pl.read_excel(path, sheet_id=1, engine="calamine", infer_schema_length=None)
    except _POLARS_ERRORS as error:
        raise ParseFailure(_("The Excel file could not be read.")) from error
    names = set(cells.values())
    for number, name in enumerate(frame.columns, start=1):
        if _GENERATED_NAME.fullmatch(name) and name not in names:
            raise ParseFailure(
                _("Column %(column)d of the header (row %(row)d) has no name.") % {"column": number, "row": row},
                row=row,
                column=number,
            )
    frame = _type_frame(frame.with_columns(_excel_datetimes(frame)), _TEMPORAL)
    frame.write_parquet(part, **parquet_options(frame.width))
    return {}


def _excel_datetimes(frame: pl.DataFrame) -> list[pl.Expr]:
    """Excel has no date type: a datetime column whose values are all at midnight is a date column."""
    expressions = []
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Datetime):
            continue
        column = frame.get_column(name)
        if column.is_null().all() or (column.dt.truncate("1d") == column).all():
            expressions.append(pl.col(name).cast(pl.Date))
        else:
            expressions.append(pl.col(name).cast(pl.Datetime("us", dtype.time_zone)))
    return expressions
