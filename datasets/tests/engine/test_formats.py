"""detect(), check_sample() and convert(): every format to Parquet with its values checked, what is refused, and
where a broken file is broken. Files are written by the tests, in tmp_path."""

import csv
import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import zipfile

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.utils import translation

from datasets.engine import formats
from datasets.engine.errors import ParseFailure, UnsupportedFormat
from datasets.engine.formats import Detected, check_sample, convert, detect
from datasets.engine.schema import ROW_GROUP_ROWS


@pytest.fixture(autouse=True)
def _english():
    # Messages are checked in their English source text, whatever the project's default language.
    with translation.override("en"):
        yield


def _write(tmp_path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def _load(tmp_path, name: str, data: bytes | str) -> tuple[Detected, formats.Converted, pl.DataFrame]:
    """detect, check_sample and convert, as the upload and its task do; the Parquet copy read back."""
    path = _write(tmp_path, name, data)
    detected = detect(path, name)
    check_sample(path, detected)
    dst = str(tmp_path / "out.parquet")
    converted = convert(path, detected, dst)
    return detected, converted, pl.read_parquet(dst)


def _types(converted: formats.Converted) -> dict[str, str]:
    return {column["name"]: column["type"] for column in converted.columns}


def _leftovers(tmp_path, *sources: str) -> list[str]:
    return sorted(name for name in os.listdir(tmp_path) if name not in sources)


# --- CSV and TSV ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '"x",z\n1,2\n',  # a quoted first field: the delimiter sniffer once took it for a broken record
        '"x","z"\n"1","2"\n',  # every field quoted, as R's write.csv and pandas' QUOTE_ALL write them
        'x,z\n"1",2\n',
    ],
)
def test_quoted_fields_anywhere_in_the_first_records(tmp_path, text):
    detected, converted, frame = _load(tmp_path, "quoted.csv", text)
    assert detected.delimiter == ","
    assert (converted.row_count, frame.columns, frame.row(0)) == (1, ["x", "z"], (1, 2))


def test_csv_values_get_the_types_a_data_scientist_expects(tmp_path):
    text = (
        "id,price,ok,day,at,at_utc,clock,name,empty\n"
        "1,2.5,true,2024-01-02,2024-01-02 03:04:05,2024-01-02T03:04:05Z,08:30:00,alpha,\n"
        "2,-3,FALSE,2024-12-31,2024-12-31T23:59:59.5,2024-01-02T11:04:05+08:00,23:59:59,,\n"
        "-3,1e3,True,2000-02-29,2000-02-29 00:00:00,2000-01-01 00:00:00Z,00:00:00,γ,\n"
    )
    detected, converted, frame = _load(tmp_path, "data.csv", text)

    assert detected == Detected("csv", "utf-8", ",", "text/csv")
    assert converted.row_count == 3
    assert converted.details == {"encoding": "utf-8", "delimiter": ","}
    assert _types(converted) == {
        "id": "integer",
        "price": "float",
        "ok": "boolean",
        "day": "date",
        "at": "datetime",
        "at_utc": "datetime",
        "clock": "time",
        "name": "string",
        "empty": "string",
    }
    assert frame["id"].to_list() == [1, 2, -3]
    assert frame["price"].to_list() == [2.5, -3.0, 1000.0]
    assert frame["ok"].to_list() == [True, False, True]
    assert frame["day"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 12, 31), dt.date(2000, 2, 29)]
    assert frame["at"].to_list() == [
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 12, 31, 23, 59, 59, 500000),
        dt.datetime(2000, 2, 29),
    ]
    assert frame.schema["at_utc"] == pl.Datetime("us", "UTC")
    assert [value.replace(tzinfo=None) for value in frame["at_utc"]] == [
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2000, 1, 1),
    ]
    assert frame["clock"].to_list() == [dt.time(8, 30), dt.time(23, 59, 59), dt.time(0, 0)]
    # Empty fields are null, in typed and string columns alike.
    assert frame["name"].to_list() == ["alpha", None, "γ"]
    assert frame["empty"].to_list() == [None, None, None]
    nullable = {column["name"]: column["nullable"] for column in converted.columns}
    assert nullable["id"] is False and nullable["name"] is True


def test_gb18030_csv_with_chinese_headers_and_values(tmp_path):
    text = "城市,人口（万）,日期,备注\r\n北京,2154,2024-01-01,首都\r\n上海,2487,2024-01-02,“魔都”\r\n"
    text += "深圳,1768,2024-01-03,\r\n"
    detected, converted, frame = _load(tmp_path, "城市.csv", text.encode("gb18030"))

    assert (detected.format, detected.encoding, detected.delimiter) == ("csv", "gb18030", ",")
    assert converted.details == {"encoding": "gb18030", "delimiter": ","}
    assert frame.columns == ["城市", "人口（万）", "日期", "备注"]
    assert _types(converted) == {"城市": "string", "人口（万）": "integer", "日期": "date", "备注": "string"}
    assert frame["城市"].to_list() == ["北京", "上海", "深圳"]
    assert frame["人口（万）"].to_list() == [2154, 2487, 1768]
    assert frame["备注"].to_list() == ["首都", "“魔都”", None]


def test_encoding_is_not_misled_by_a_character_cut_at_the_end_of_the_sample(tmp_path, monkeypatch):
    utf8 = "名称,值\n" + "".join(f"中文{i},{i}\n" for i in range(50))
    gbk = utf8.encode("gb18030")
    for data, expected in ((utf8.encode("utf-8"), "utf-8"), (gbk, "gb18030")):
        path = _write(tmp_path, "cut.csv", data)
        # Every head length from 4 to 40 bytes: most of them cut a multi-byte character in two.
        for size in range(4, 41):
            monkeypatch.setattr(formats, "HEAD_BYTES", size)
            if data[:size].isascii():
                continue
            assert detect(path, "cut.csv").encoding == expected, size


def test_utf8_with_bom(tmp_path):
    detected, converted, frame = _load(tmp_path, "bom.csv", "\ufeff名字,n\n张三,1\n李四,2\n".encode())

    assert detected.encoding == "utf-8-sig"
    assert converted.details["encoding"] == "utf-8-sig"
    assert frame.columns == ["名字", "n"]  # no BOM glued to the first name
    assert frame["名字"].to_list() == ["张三", "李四"]


def test_tsv(tmp_path):
    detected, converted, frame = _load(tmp_path, "data.tsv", 'a\tb c\n1\thello, world\n2\t"quoted\ttab"\n')

    assert detected == Detected("tsv", "utf-8", "\t", "text/tab-separated-values")
    assert frame["a"].to_list() == [1, 2]
    assert frame["b c"].to_list() == ["hello, world", "quoted\ttab"]


def test_delimiter_comes_from_the_content_and_format_from_the_name(tmp_path):
    # A .csv that is tab-separated stays "csv", read with tabs.
    detected, _converted, frame = _load(tmp_path, "tabs.csv", "x\ty\n1\t2\n3\t4\n")
    assert (detected.format, detected.delimiter) == ("csv", "\t")
    assert frame.to_dict(as_series=False) == {"x": [1, 3], "y": [2, 4]}

    detected, _converted, frame = _load(tmp_path, "pipes.txt", "x|y\n1|a,b\n2|c\n")
    assert (detected.format, detected.delimiter) == ("csv", "|")
    assert frame["y"].to_list() == ["a,b", "c"]

    detected, _converted, _frame = _load(tmp_path, "noextension", "x\ty\n1\t2\n")
    assert (detected.format, detected.delimiter) == ("tsv", "\t")


def test_semicolon_csv_with_decimal_commas(tmp_path):
    text = 'Name;Betrag;Anzahl\n"Müller, Hans";1,5;3\nSchmidt;-2,25;4\nWeiß;10;5\n'
    detected, converted, frame = _load(tmp_path, "export.csv", text)

    assert detected.delimiter == ";"
    assert converted.details["delimiter"] == ";"
    assert _types(converted)["Betrag"] == "float"
    assert frame["Betrag"].to_list() == [1.5, -2.25, 10.0]
    assert frame["Name"].to_list() == ["Müller, Hans", "Schmidt", "Weiß"]
    assert frame["Anzahl"].to_list() == [3, 4, 5]


def test_quoted_newlines_quotes_and_crlf(tmp_path):
    text = 'a,b\r\n1,"line one\r\nline two"\r\n2,"say ""hi"", ok"\r\n3,plain\r\n'
    _detected, converted, frame = _load(tmp_path, "q.csv", text)

    assert converted.row_count == 3
    assert frame["b"].to_list() == ["line one\r\nline two", 'say "hi", ok', "plain"]
    assert frame["a"].to_list() == [1, 2, 3]


def test_header_only_file_has_columns_and_no_rows(tmp_path):
    _detected, converted, frame = _load(tmp_path, "empty.csv", "a,b,c\n")

    assert converted.row_count == 0
    assert [column["name"] for column in converted.columns] == ["a", "b", "c"]
    assert frame.height == 0


def test_blank_lines_and_short_rows(tmp_path):
    # Blank lines (and rows of empty fields) are dropped, as Excel's empty rows are; a short row is padded.
    _detected, converted, frame = _load(tmp_path, "blank.csv", "a,b,c\n1,2,3\n\n4,5\n,,\n\n")

    assert converted.row_count == 2
    assert frame.rows() == [(1, 2, 3), (4, 5, None)]


def test_a_value_after_the_prefix_that_does_not_fit_makes_the_column_a_string(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "SNIFF_ROWS", 5)
    monkeypatch.setattr(formats, "PREFIX_ROWS", 20)
    rows = [f"{i},{i},{i},2024-01-{i % 28 + 1:02d}" for i in range(100)]
    rows[70] = "70,abc,70.5,not a date"
    _detected, converted, frame = _load(tmp_path, "late.csv", "n,mixed,promoted,day\n" + "\n".join(rows) + "\n")

    types = _types(converted)
    assert types == {"n": "integer", "mixed": "string", "promoted": "float", "day": "string"}
    assert frame["mixed"][70] == "abc" and frame["mixed"][0] == "0" and frame["mixed"][99] == "99"
    assert frame["promoted"][70] == 70.5 and frame["promoted"][3] == 3.0
    assert frame["day"][70] == "not a date" and frame["day"][0] == "2024-01-01"
    assert frame["n"].to_list() == list(range(100))


def test_mixed_values_in_the_prefix_make_a_string_column(tmp_path):
    _detected, converted, frame = _load(tmp_path, "mixed.csv", "v,w\n1,2024-01-01\nx,2024-01-02 10:00:00\n3,\n")

    assert _types(converted) == {"v": "string", "w": "string"}
    assert frame["v"].to_list() == ["1", "x", "3"]


def test_a_column_empty_in_the_prefix_still_gets_its_type(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "SNIFF_ROWS", 5)
    monkeypatch.setattr(formats, "PREFIX_ROWS", 20)
    rows = [f"{i},,," for i in range(50)] + [f"{i},{i * 2},note,{'true' if i % 2 else 'false'}" for i in range(50, 60)]
    _detected, converted, frame = _load(tmp_path, "sparse.csv", "n,late_int,late_text,late_bool\n" + "\n".join(rows))

    assert _types(converted) == {"n": "integer", "late_int": "integer", "late_text": "string", "late_bool": "boolean"}
    assert frame["late_int"].to_list() == [None] * 50 + [i * 2 for i in range(50, 60)]
    assert frame["late_bool"][51] is True
    assert not [name for name in os.listdir(tmp_path) if name.endswith((".part", ".typed"))]


def test_codes_stay_strings_and_null_markers_are_read(tmp_path):
    # Leading zeros, and integers too long for Int64 (which a float would round), are codes, not numbers.
    text = "zip,score,label,card\n00501,1.5,NA,12345678901234567890\n10001,NA,ok,1\n02134, 3 ,N/A,2\n"
    _detected, converted, frame = _load(tmp_path, "codes.csv", text)

    assert _types(converted) == {"zip": "string", "score": "float", "label": "string", "card": "string"}
    assert frame["zip"].to_list() == ["00501", "10001", "02134"]
    assert frame["card"].to_list() == ["12345678901234567890", "1", "2"]
    # "NA" is no value in a number column, and stays text in a string column.
    assert frame["score"].to_list() == [1.5, None, 3.0]
    assert frame["label"].to_list() == ["NA", "ok", "N/A"]


def test_stray_quotes_inside_fields_and_old_mac_line_ends(tmp_path):
    _detected, converted, frame = _load(tmp_path, "height.csv", "name,height\nann,5'10\"\nbob,6'1\"\n")
    assert frame["height"].to_list() == ["5'10\"", "6'1\""]
    assert converted.row_count == 2

    _detected, converted, frame = _load(tmp_path, "mac.csv", "a,b\r1,x\r2,y\r")
    assert frame.rows() == [(1, "x"), (2, "y")]


def test_very_wide_file(tmp_path):
    width = 1500
    header = ",".join(f"c{i}" for i in range(width))
    rows = "\n".join(",".join(str(r * i) if i % 2 else f"t{r}" for i in range(width)) for r in range(30))
    _detected, converted, frame = _load(tmp_path, "wide.csv", f"{header}\n{rows}\n")

    assert frame.shape == (30, width)
    assert _types(converted)["c1"] == "integer" and _types(converted)["c0"] == "string"
    assert frame["c1499"][29] == 29 * 1499


# --- CSV errors ----------------------------------------------------------------------------------------------------


def _broken(tmp_path, name: str, data: bytes | str, *, sample: bool = True) -> tuple[ParseFailure, ParseFailure]:
    """The ParseFailure of check_sample (None with sample=False: the head is fine) and of convert, which must leave
    nothing behind."""
    path = _write(tmp_path, name, data)
    before = os.listdir(tmp_path)
    detected = detect(path, name)
    sampled = None
    if sample:
        with pytest.raises(ParseFailure) as from_sample:
            check_sample(path, detected)
        sampled = from_sample.value
    else:
        check_sample(path, detected)
    dst = str(tmp_path / "out.parquet")
    with pytest.raises(ParseFailure) as from_convert:
        convert(path, detected, dst)
    assert _leftovers(tmp_path, *before) == []
    return sampled, from_convert.value


def test_ragged_csv_line(tmp_path):
    lines = ["a,b,c,d"] + [f"{i},{i},{i},{i}" for i in range(1, 6)] + ["6,6,6,6,6", "7,7,7,7"]
    sampled, converted = _broken(tmp_path, "ragged.csv", "\n".join(lines) + "\n")

    assert sampled.details == {"row": 7, "column": 5}
    assert converted.details == {"row": 7, "column": 5}
    assert "7" in converted.message and "5" in converted.message


def test_ragged_line_after_the_sample_is_found_by_convert_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "HEAD_BYTES", 200)
    lines = ["a,b"] + [f'{i},"x\ny"' if i == 10 else f"{i},v" for i in range(1, 500)]
    lines[300] = "300,v,extra"  # line 301 of the file, plus one for the quoted line end above
    _sampled, converted = _broken(tmp_path, "late.csv", "\n".join(lines) + "\n", sample=False)

    assert converted.details == {"row": 302, "column": 3}


def test_duplicate_and_empty_header_names(tmp_path):
    sampled, converted = _broken(tmp_path, "dup.csv", "id,name,name,x\n1,a,b,c\n")
    assert sampled.details == converted.details == {"row": 1, "column": 3}
    assert "name" in converted.message

    sampled, converted = _broken(tmp_path, "noname.csv", "id,,x\n1,2,3\n")
    assert sampled.details == converted.details == {"row": 1, "column": 2}

    # Leading blank lines: the header is on line 3.
    sampled, converted = _broken(tmp_path, "late_header.csv", "\n\na,b,a\n1,2,3\n")
    assert sampled.details == converted.details == {"row": 3, "column": 3}


def test_unclosed_quote(tmp_path):
    sampled, converted = _broken(tmp_path, "quote.csv", 'a,b\n1,ok\n2,"never closed\n3,x\n')

    assert sampled.details == {"row": 3, "column": 2}
    assert converted.details == {"row": 3, "column": 2}
    assert converted.message.startswith("Line 3, column 2 is not valid CSV")


@pytest.mark.parametrize(
    ("record", "column"),
    [
        ('1,"never closed\n3,x\n', 2),  # open to the end
        ('"a""b",x,"c" d\n', 3),  # closed, then followed by a character; "" is one quote
        ('"a,b";"c"x\n', 2),  # another delimiter: the comma is inside the first field
        ('1,a"b,"c\n', 3),  # a quote inside an unquoted field is a character
        ('1,"ok",2\n', None),  # nothing wrong
        ('1,2\n"x\n', None),  # the problem is past this record's line end
    ],
)
def test_the_field_a_quote_goes_wrong_in(record, column):
    assert formats._quote_column(record, ";" if ";" in record else ",") == column


def test_invalid_bytes_after_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "HEAD_BYTES", 64)
    data = ("名称,值\n" + "".join(f"中文{i},{i}\n" for i in range(20))).encode() + b"bad,\xff\xfe\n"
    _sampled, converted = _broken(tmp_path, "bad.csv", data, sample=False)

    assert converted.details == {"row": 22}


def test_a_valid_utf8_csv_is_read_once_by_polars_without_a_python_decoding_pass(tmp_path, monkeypatch):
    # polars checks UTF-8 as it reads: decoding the whole file in Python first only doubles the reading.
    def decoded_in_python(path):
        raise AssertionError("the file was decoded in Python before polars read it")

    monkeypatch.setattr(formats, "_first_invalid_utf8", decoded_in_python)
    text = "名称,值\n" + "".join(f"中文{i},{i}\n" for i in range(50))
    for name, data in (("plain.csv", text.encode()), ("bom.csv", b"\xef\xbb\xbf" + text.encode())):
        _detected, converted, frame = _load(tmp_path, name, data)
        assert converted.row_count == 50
        assert frame["名称"][-1] == "中文49"


def test_invalid_bytes_in_a_ragged_file_are_reported_before_its_shape(tmp_path, monkeypatch):
    # polars fails on the file for both reasons; the checked way names the invalid line first.
    monkeypatch.setattr(formats, "HEAD_BYTES", 64)
    data = ("a,b\n" + "".join(f"{i},{i}\n" for i in range(20))).encode() + b"x,\xff\n1,2,3\n"
    _sampled, converted = _broken(tmp_path, "bad.csv", data, sample=False)

    assert converted.details == {"row": 22}


def test_polars_reads_csv_in_pieces_of_a_few_mib_unless_the_operator_chose():
    # Its default piece grows with the file, and a conversion then holds about a file's size more (bench/datasets.py).
    assert os.environ["POLARS_CSV_CHUNK_SIZE"] == str(formats.POLARS_CSV_CHUNK_BYTES) == str(4 << 20)
    script = "import os, datasets.engine.formats; print(os.environ['POLARS_CSV_CHUNK_SIZE'])"
    chosen = {**os.environ, "POLARS_CSV_CHUNK_SIZE": "123", "DJANGO_SETTINGS_MODULE": "incubator.settings"}
    ran = subprocess.run([sys.executable, "-c", script], env=chosen, capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "123"


def test_quoted_line_ends_and_a_field_longer_than_a_piece_survive_the_cut_into_pieces(tmp_path, monkeypatch):
    monkeypatch.setenv("POLARS_CSV_CHUNK_SIZE", str(1 << 16))
    monkeypatch.setattr(formats, "HEAD_BYTES", 1 << 12)  # past the head too
    texts = ["多行\n文本，逗号", 'a "quoted" word', "\n\n", "x" * 300, "plain"] * 2000 + ["y" * (1 << 18), "end"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "text"])
    writer.writerows([number, text] for number, text in enumerate(texts))
    _detected, converted, frame = _load(tmp_path, "quoted.csv", buffer.getvalue())

    assert converted.row_count == len(texts)
    assert frame["text"].to_list() == texts
    assert frame["id"].to_list() == list(range(len(texts)))


def test_a_wide_file_is_typed_on_fewer_rows_and_a_later_value_still_keeps_its_column_text(tmp_path, monkeypatch):
    # 20,000 rows of 1,500 columns held 700 MB to fit the types of a 117 MB file: the prefix is bounded in values.
    seen: list[int] = []
    counts = formats._counts
    monkeypatch.setattr(
        formats, "_counts", lambda frame, candidates, rows: seen.append(rows) or counts(frame, candidates, rows)
    )
    width = 1000
    lines = [",".join(f"c{column}" for column in range(width))]
    lines += [",".join(str(row + column) for column in range(width)) for row in range(600)]
    lines[-1] = "x" + lines[-1]  # c0 of the last row: past the 500 rows the types are fitted on
    _detected, converted, frame = _load(tmp_path, "wide.csv", "\n".join(lines) + "\n")

    assert max(seen) == formats.SNIFF_ROWS == max(formats.SNIFF_ROWS, formats.PREFIX_CELLS // width)
    types = _types(converted)
    assert types["c0"] == "string" and {types[f"c{column}"] for column in range(1, width)} == {"integer"}
    assert frame["c0"].to_list() == [str(row) for row in range(599)] + ["x599"]
    assert frame["c999"].to_list() == [row + 999 for row in range(600)]


def test_gbk_after_an_ascii_head_is_read_as_gb18030(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "HEAD_BYTES", 64)
    text = "city,n\n" + "".join(f"c{i},{i}\n" for i in range(20)) + "北京,100\n"
    detected, converted, frame = _load(tmp_path, "late_gbk.csv", text.encode("gb18030"))

    assert detected.encoding == "utf-8"  # all the head showed was ASCII
    assert converted.details["encoding"] == "gb18030"
    assert frame["city"][-1] == "北京"


# --- JSON and JSON Lines -------------------------------------------------------------------------------------------


def test_json_array(tmp_path):
    records = [
        {"id": 1, "名称": "苹果", "price": 1.5, "ok": True, "tags": ["a", "b"], "day": "2024-01-02", "mixed": 1},
        {"id": 2, "名称": "香蕉", "price": 2, "ok": False, "tags": [], "day": "2024-01-03", "mixed": "two"},
        {"id": 3, "名称": None, "price": None, "ok": None, "tags": None, "day": None, "extra": "only here"},
    ]
    detected, converted, frame = _load(tmp_path, "data.json", json.dumps(records, ensure_ascii=False, indent=2))

    assert detected == Detected("json", "utf-8", None, "application/json")
    assert converted.row_count == 3
    assert _types(converted) == {
        "id": "integer",
        "名称": "string",
        "price": "float",
        "ok": "boolean",
        "tags": "list",
        "day": "date",
        "mixed": "string",
        "extra": "string",
    }
    assert frame["名称"].to_list() == ["苹果", "香蕉", None]
    assert frame["price"].to_list() == [1.5, 2.0, None]
    assert frame["tags"].to_list() == [["a", "b"], [], None]
    assert frame["day"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3), None]
    assert frame["mixed"].to_list() == ["1", "two", None]
    assert frame["extra"].to_list() == [None, None, "only here"]


def test_json_dates_with_spaces_and_null_markers_keep_every_value(tmp_path):
    # Typed as a CSV column is: the values are cleaned (spaces, "NA") before they are parsed, so none is lost.
    records = [{"day": "2024-01-05"}, {"day": " 2024-02-01 "}, {"day": "NA"}, {"day": None}]
    _detected, converted, frame = _load(tmp_path, "days.json", json.dumps(records))

    assert _types(converted) == {"day": "date"}
    assert frame["day"].to_list() == [dt.date(2024, 1, 5), dt.date(2024, 2, 1), None, None]


def test_json_array_in_gb18030_with_bom_or_not(tmp_path):
    text = json.dumps([{"城市": "北京", "n": 1}, {"城市": "上海", "n": 2}], ensure_ascii=False)
    detected, converted, frame = _load(tmp_path, "gbk.json", text.encode("gb18030"))
    assert detected.encoding == "gb18030" and converted.details == {"encoding": "gb18030"}
    assert frame["城市"].to_list() == ["北京", "上海"]

    detected, converted, frame = _load(tmp_path, "bom.json", "\ufeff" + text)
    assert detected.encoding == "utf-8-sig"
    assert frame.columns == ["城市", "n"]


def test_broken_json_array_reports_the_record(tmp_path):
    sampled, converted = _broken(tmp_path, "broken.json", '[{"a": 1},\n {"a": 2},\n {"a": }\n]')
    assert sampled.details == converted.details == {"row": 3}

    sampled, converted = _broken(tmp_path, "comma.json", '[{"a": 1} {"a": 2}]')
    assert sampled.details == converted.details == {"row": 2}

    sampled, converted = _broken(tmp_path, "scalar.json", '[{"a": 1}, 2, {"a": 3}]')
    assert sampled.details == converted.details == {"row": 2}

    sampled, converted = _broken(tmp_path, "empty.json", "[]")
    assert "empty" in converted.message


def test_json_sample_stops_quietly_at_a_record_cut_by_the_head(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "HEAD_BYTES", 50)
    path = _write(tmp_path, "long.json", json.dumps([{"text": "x" * 30, "n": i} for i in range(20)]))
    check_sample(path, detect(path, "long.json"))  # no error: the record at the cut is not judged


def test_json_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "PREFIX_ROWS", 5)
    lines = [json.dumps({"id": i, "name": f"名{i}", "at": f"2024-01-02T03:04:{i:02d}", "v": i}) for i in range(20)]
    lines[12] = json.dumps({"id": 12, "name": "名12", "at": "2024-01-02T03:04:12", "v": "twelve", "new": [1]})
    detected, converted, frame = _load(tmp_path, "data.ndjson", "\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]))

    assert detected == Detected("jsonl", "utf-8", None, "application/x-ndjson")
    assert converted.row_count == 20
    assert _types(converted) == {"id": "integer", "name": "string", "at": "datetime", "v": "string", "new": "list"}
    assert frame["v"][12] == "twelve" and frame["v"][0] == "0"
    assert frame["at"][5] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert frame["name"][19] == "名19"


def test_json_lines_with_bom_in_gb18030(tmp_path):
    text = '{"城市": "北京", "n": 1}\n{"城市": "上海", "n": 2}\n'
    _detected, converted, frame = _load(tmp_path, "bom.jsonl", "\ufeff" + text)
    assert frame.columns == ["城市", "n"] and converted.details == {"encoding": "utf-8-sig"}

    _detected, converted, frame = _load(tmp_path, "gbk.jsonl", text.encode("gb18030"))
    assert frame["城市"].to_list() == ["北京", "上海"] and converted.details == {"encoding": "gb18030"}


def test_broken_json_lines_report_the_line(tmp_path):
    sampled, converted = _broken(tmp_path, "broken.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3\n{"a": 4}\n')
    assert sampled.details == converted.details == {"row": 3}

    sampled, converted = _broken(tmp_path, "array_line.jsonl", '{"a": 1}\n\n[1, 2]\n')
    assert sampled.details == converted.details == {"row": 3}


def test_json_lines_mixing_objects_and_values_in_a_column(tmp_path, monkeypatch):
    # A file the upload's check reads whole is refused there, with the line and column the conversion would name.
    sampled, converted = _broken(tmp_path, "kinds.jsonl", '{"a": {"x": 1}}\n{"a": 2}\n')
    assert sampled.details == converted.details == {"row": 2, "column": "a"}
    sampled, converted = _broken(tmp_path, "kinds.json", '[{"a": [1]}, {"a": {"x": 1}}]')
    assert sampled.details == converted.details == {"row": 2, "column": "a"}

    # What the conversion reads, the check lets through (polars reads a list, then text, as text).
    path = _write(tmp_path, "lenient.jsonl", '{"a": [1, 2]}\n{"a": "two"}\n')
    check_sample(path, detect(path, "lenient.jsonl"))
    convert(path, detect(path, "lenient.jsonl"), str(tmp_path / "lenient.parquet"))

    # Past the head, only the conversion sees the whole file.
    monkeypatch.setattr(formats, "HEAD_BYTES", 64)
    lines = [json.dumps({"a": i, "pad": "x" * 20}) for i in range(10)] + ['{"a": {"x": 1}}']
    _sampled, converted = _broken(tmp_path, "late.jsonl", "\n".join(lines) + "\n", sample=False)
    assert converted.details == {"row": 11, "column": "a"}


# --- Parquet and xlsx ----------------------------------------------------------------------------------------------


def test_a_wide_files_row_groups_hold_fewer_rows(tmp_path):
    # A writer holds a whole row group and a preview page decodes one: 16,384 rows of 1,500 columns held 315 MB.
    width = 200
    lines = [",".join(f"c{column}" for column in range(width))]
    lines += [",".join(str(row * column) for column in range(width)) for row in range(5_000)]
    _detected, converted, frame = _load(tmp_path, "wide.csv", "\n".join(lines) + "\n")

    groups = pq.ParquetFile(str(tmp_path / "out.parquet")).metadata
    assert [groups.row_group(g).num_rows for g in range(groups.num_row_groups)] == [2_048, 2_048, 904]
    assert frame.height == converted.row_count == 5_000
    assert frame["c199"].to_list() == [row * 199 for row in range(5_000)]


def test_parquet_is_rewritten_with_the_canonical_options(tmp_path):
    table = pa.table(
        {
            "n": pa.array(range(40_000), pa.int32()),
            "名称": pa.array([f"行{i}" for i in range(40_000)]),
            "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 40_000, pa.timestamp("ms", tz="UTC")),
        }
    )
    source = str(tmp_path / "input.parquet")
    pq.write_table(table, source, compression="snappy", row_group_size=40_000)
    detected = detect(source, "input.parquet")
    check_sample(source, detected)
    dst = str(tmp_path / "out.parquet")
    converted = convert(source, detected, dst)

    assert detected == Detected("parquet", None, None, "application/vnd.apache.parquet")
    assert converted.row_count == 40_000 and converted.details == {}
    metadata = pq.read_metadata(dst)
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        ROW_GROUP_ROWS,
        ROW_GROUP_ROWS,
        40_000 - 2 * ROW_GROUP_ROWS,
    ]
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert metadata.row_group(0).column(0).statistics.has_min_max
    assert pq.read_table(dst).to_pydict()["名称"][39_999] == "行39999"
    assert _types(converted) == {"n": "integer", "名称": "string", "at": "datetime"}


def test_damaged_parquet(tmp_path):
    good = str(tmp_path / "good.parquet")
    pq.write_table(pa.table({"a": [1, 2, 3]}), good)
    data = open(good, "rb").read()

    duplicated = str(tmp_path / "duplicated.parquet")
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), duplicated)
    with pytest.raises(ParseFailure) as error:
        check_sample(duplicated, detect(duplicated, "duplicated.parquet"))
    assert error.value.details == {"column": 2}

    truncated = _write(tmp_path, "truncated.parquet", data[:-20])
    with pytest.raises(ParseFailure):
        detect(truncated, "truncated.parquet")

    # Magic at both ends, garbage in the footer: detect says Parquet, check_sample says damaged.
    garbled = _write(tmp_path, "garbled.parquet", data[:-12] + b"\xff" * 8 + data[-4:])
    detected = detect(garbled, "garbled.parquet")
    with pytest.raises(ParseFailure):
        check_sample(garbled, detected)
    with pytest.raises(ParseFailure):
        convert(garbled, detected, str(tmp_path / "out.parquet"))
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.parquet.part").exists()


def _xlsx(tmp_path, name: str, rows: list[list], *, start_row: int = 1) -> str:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=start_row + offset, column=column, value=value)
    workbook.create_sheet("第二页").append(["ignored"])
    path = str(tmp_path / name)
    workbook.save(path)
    return path


def test_xlsx_first_sheet_with_chinese_headers(tmp_path):
    path = _xlsx(
        tmp_path,
        "报表.xlsx",
        [
            ["编号", "名称", "价格", "日期", "时间", "混合"],
            [1, "苹果", 1.5, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), 1],
            [2, "香蕉", 2, dt.date(2024, 1, 3), dt.datetime(2024, 1, 3, 0, 0, 1), "二"],
            [None, None, None, None, None, None],
            [3, "梨", None, None, None, 3.5],
        ],
    )
    detected = detect(path, "报表.xlsx")
    check_sample(path, detected)
    converted = convert(path, detected, str(tmp_path / "out.parquet"))
    frame = pl.read_parquet(tmp_path / "out.parquet")

    assert detected.format == "xlsx" and detected.encoding is None
    assert converted.row_count == 3  # the empty row is dropped
    assert _types(converted) == {
        "编号": "integer",
        "名称": "string",
        "价格": "float",
        "日期": "date",
        "时间": "datetime",
        "混合": "string",
    }
    assert frame["名称"].to_list() == ["苹果", "香蕉", "梨"]
    assert frame["日期"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3), None]
    assert frame["时间"][0] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert frame["混合"].to_list() == ["1", "二", "3.5"]


def test_xlsx_header_errors_use_excel_row_numbers(tmp_path):
    path = _xlsx(tmp_path, "dup.xlsx", [["a", "b", "a"], [1, 2, 3]], start_row=3)
    detected = detect(path, "dup.xlsx")
    for call in (lambda: check_sample(path, detected), lambda: convert(path, detected, str(tmp_path / "o.parquet"))):
        with pytest.raises(ParseFailure) as error:
            call()
        assert error.value.details == {"row": 3, "column": 3}

    path = _xlsx(tmp_path, "gap.xlsx", [["a", None, "c"], [1, 2, 3]])
    with pytest.raises(ParseFailure) as error:
        check_sample(path, detect(path, "gap.xlsx"))
    assert error.value.details == {"row": 1, "column": 2}

    # Data under no header, right of the named columns: only the full read sees it.
    path = _xlsx(tmp_path, "tail.xlsx", [["a", "b"], [1, 2, 3]])
    detected = detect(path, "tail.xlsx")
    check_sample(path, detected)
    with pytest.raises(ParseFailure) as error:
        convert(path, detected, str(tmp_path / "o.parquet"))
    assert error.value.details == {"row": 1, "column": 3}
    assert not (tmp_path / "o.parquet").exists()


# --- what detect refuses, and where the content wins ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100),
        ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        ("data.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
        ("data.csv", b""),
        ("blank.csv", b"  \n\r\n"),
        ("noise.bin", bytes(random.Random(1).randrange(256) for _ in range(4096))),
        ("utf16.csv", "a,b\n1,2\n".encode("utf-16")),
        ("latin1.csv", "name,city\nJosé,Málaga\nFrançois,Besançon\n".encode("latin-1")),
        ("object.json", '{\n  "data": [1, 2]\n}\n'),
        ("notes.md", "# Notes\n\nSome prose, with a comma.\nAnd more text here.\n"),
        ("gz.csv", b"\x1f\x8b\x08\x00" + b"\x00" * 20),
    ],
)
def test_unsupported_files(tmp_path, name, data):
    path = _write(tmp_path, name, data)
    with pytest.raises(UnsupportedFormat):
        detect(path, name)


def test_zip_that_is_not_a_workbook(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    path = _write(tmp_path, "data.xlsx", buffer.getvalue())
    with pytest.raises(UnsupportedFormat) as error:
        detect(path, "data.xlsx")
    assert "ZIP" in error.value.message


def test_content_wins_over_a_lying_extension(tmp_path):
    parquet = str(tmp_path / "real.parquet")
    pq.write_table(pa.table({"a": [1]}), parquet)
    assert detect(parquet, "data.csv").format == "parquet"

    workbook = _xlsx(tmp_path, "book.xlsx", [["a"], [1]])
    assert detect(workbook, "book.csv").format == "xlsx"

    path = _write(tmp_path, "lines.csv", '{"a": 1}\n{"a": 2}\n')
    assert detect(path, "lines.csv").format == "jsonl"
    path = _write(tmp_path, "array.jsonl", '[{"a": 1}]')
    assert detect(path, "array.jsonl").format == "json"
    path = _write(tmp_path, "table.json", "a,b\n1,2\n3,4\n")
    assert detect(path, "table.json") == Detected("csv", "utf-8", ",", "text/csv")
    # A CSV whose first name starts with "[" is still CSV.
    path = _write(tmp_path, "brackets.csv", "[id],[name]\n1,a\n")
    assert detect(path, "brackets.csv").format == "csv"


def test_constants_agree():
    assert formats.FORMATS == ("csv", "tsv", "json", "jsonl", "parquet", "xlsx")
    assert set(formats.CONTENT_TYPES) == set(formats.EXTENSIONS) == set(formats.FORMATS)
    assert formats.CONTENT_TYPES["parquet"] == "application/vnd.apache.parquet"


def test_a_header_longer_than_the_head_is_refused_for_its_length_not_for_a_cut_name(tmp_path, monkeypatch):
    # A million columns: the head cut the header mid-name, which then read as a repeated name, or as none.
    monkeypatch.setattr(formats, "HEAD_BYTES", 64)
    header = ",".join(f"c{i}" for i in range(40))
    sampled, converted = _broken(tmp_path, "wide.csv", header + "\n" + ",".join("1" * 40) + "\n")
    assert sampled.details == converted.details == {"row": 1}
    assert converted.message.startswith("The header line is longer than")
    # Short enough: as before.
    _detected, fine, _frame = _load(tmp_path, "narrow.csv", "a,b\n1,2\n")
    assert fine.row_count == 1


def test_a_header_that_just_fits_the_head_is_read(tmp_path, monkeypatch):
    header = ",".join(f"c{i}" for i in range(40))
    monkeypatch.setattr(formats, "HEAD_BYTES", len(header) + 1)  # the header and its line end fill the head
    _detected, converted, _frame = _load(tmp_path, "fits.csv", header + "\n" + ",".join("1" * 40) + "\n" * 3)
    assert converted.row_count == 1 and len(converted.columns) == 40


def test_a_refused_column_name_leaves_no_parquet_copy(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "names.parquet")
    pq.write_table(pa.table({"a\x00b": [1]}), path)
    dst = str(tmp_path / "out.parquet")
    with pytest.raises(ParseFailure):
        convert(path, detect(path, "names.parquet"), dst)
    assert not os.path.exists(dst)
