"""profile(): statistics checked against numbers worked out by hand on small frames."""

import json
import math
import tempfile
from datetime import UTC, date, datetime

import polars as pl
import pytest

from datasets.engine import profile as profile_module
from datasets.engine.profile import profile
from datasets.engine.schema import PARQUET_OPTIONS


def _write(tmp_path, frame: pl.DataFrame, name: str = "data.parquet") -> str:
    path = str(tmp_path / name)
    frame.write_parquet(path, **PARQUET_OPTIONS)
    return path


def _columns(result: dict) -> dict[str, dict]:
    return {column["name"]: column for column in result["column_profiles"]}


def test_integer_column_statistics(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"n": [0, -3, 4, 4, None, 10]}))

    result = profile(path)
    column = _columns(result)["n"]

    assert result["rows"] == 6 and result["columns"] == 1
    assert column["type"] == "integer"
    assert column["null_count"] == 1
    assert column["null_ratio"] == pytest.approx(1 / 6)
    assert column["distinct_count"] == 4 and column["distinct_approximate"] is False
    assert (column["min"], column["max"]) == (-3, 10)
    assert column["mean"] == pytest.approx(3.0)
    # Sample standard deviation: squared deviations 36 + 9 + 1 + 1 + 49 = 96, over n - 1 = 4.
    assert column["std"] == pytest.approx(math.sqrt(24))
    # Linear interpolation over the sorted values [-3, 0, 4, 4, 10] at positions q * 4.
    assert column["quantiles"] == pytest.approx({"p5": -2.4, "p25": 0.0, "p50": 4.0, "p75": 4.0, "p95": 8.8})
    assert (column["zeros"], column["negatives"]) == (1, 1)
    # 14 possible values (-3..10): one whole-number bin each, [edge, next edge).
    assert column["histogram"]["bins"] == list(range(-3, 12))
    expected = [0] * 14
    expected[0], expected[3], expected[7], expected[13] = 1, 1, 2, 1
    assert column["histogram"]["counts"] == expected


def test_integer_histogram_groups_wide_ranges_into_twenty_bins(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"n": list(range(100))}))

    histogram = _columns(profile(path))["n"]["histogram"]

    assert histogram["bins"] == list(range(0, 101, 5))
    assert histogram["counts"] == [5] * 20


def test_float_column_counts_nan_apart_and_bins_evenly(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"x": [0.5, 1.5, float("nan"), None, 2.5, 10.5]}))

    column = _columns(profile(path))["x"]

    assert column["type"] == "float"
    assert (column["null_count"], column["nan_count"]) == (1, 1)
    assert column["distinct_count"] == 5  # four numbers and NaN
    assert (column["min"], column["max"]) == (0.5, 10.5)
    assert column["mean"] == pytest.approx(15 / 4)
    histogram = column["histogram"]
    assert len(histogram["bins"]) == 21
    assert histogram["bins"][0] == 0.5 and histogram["bins"][-1] == 10.5
    assert histogram["bins"][1] == pytest.approx(1.0)
    counts = [0] * 20
    counts[0], counts[2], counts[4], counts[19] = 1, 1, 1, 1
    assert histogram["counts"] == counts
    assert sum(histogram["counts"]) == 6 - column["null_count"] - column["nan_count"]


def test_infinities_are_none_in_json_and_land_in_the_outer_bins(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"x": [float("-inf"), 1.0, 2.0, float("inf")]}))

    result = profile(path)
    column = _columns(result)["x"]

    json.dumps(result, allow_nan=False)
    assert column["min"] is None and column["max"] is None and column["mean"] is None
    assert column["histogram"]["bins"][0] == 1.0 and column["histogram"]["bins"][-1] == 2.0
    assert column["histogram"]["counts"][0] == 2 and column["histogram"]["counts"][-1] == 2
    assert sum(column["histogram"]["counts"]) == 4


def test_constant_and_all_null_columns(tmp_path):
    frame = pl.DataFrame(
        {
            "seven": [7, 7, 7],
            "half": [2.5, 2.5, 2.5],
            "empty": pl.Series([None, None, None], dtype=pl.Float64),
            "nothing": pl.Series([None, None, None], dtype=pl.Null),
            "blank": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    columns = _columns(profile(_write(tmp_path, frame)))

    assert columns["seven"]["histogram"] == {"bins": [7, 8], "counts": [3]}
    assert columns["seven"]["std"] == 0.0
    assert columns["half"]["histogram"] == {"bins": [2.5, 2.5], "counts": [3]}
    empty = columns["empty"]
    assert (empty["null_count"], empty["null_ratio"], empty["distinct_count"]) == (3, 1.0, 0)
    assert empty["min"] is None and empty["mean"] is None and empty["histogram"] is None
    assert set(empty["quantiles"].values()) == {None}
    assert columns["nothing"]["type"] == "null"
    assert (columns["nothing"]["null_count"], columns["nothing"]["distinct_count"]) == (3, 0)
    blank = columns["blank"]
    assert blank["top_values"] == [] and blank["length_histogram"] is None
    assert blank["length"] == {"min": None, "max": None, "mean": None}


def test_strings_top_values_lengths_and_chinese(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"s": ["b", "a", "c", "a", None, "b", "北京", "上海市"]}))

    column = _columns(profile(path))["s"]

    assert column["type"] == "string"
    assert (column["null_count"], column["distinct_count"]) == (1, 5)
    # By count, then by value: "a" before "b", and the Latin letters before the Chinese text.
    assert column["top_values"] == [
        {"value": "a", "count": 2},
        {"value": "b", "count": 2},
        {"value": "c", "count": 1},
        {"value": "上海市", "count": 1},
        {"value": "北京", "count": 1},
    ]
    # Lengths in characters, not bytes: 1, 1, 1, 1, 1, 2, 3.
    assert column["length"] == {"min": 1, "max": 3, "mean": pytest.approx(10 / 7)}
    assert column["length_histogram"] == {"bins": [1, 2, 3, 4], "counts": [5, 1, 1]}


def test_top_values_stop_at_ten_and_break_ties_by_value(tmp_path):
    values = [f"v{number:02d}" for number in range(15, 0, -1)] + ["v15"]
    column = _columns(profile(_write(tmp_path, pl.DataFrame({"s": values}))))["s"]

    assert [item["value"] for item in column["top_values"]] == ["v15"] + [f"v{number:02d}" for number in range(1, 10)]
    assert column["top_values"][0]["count"] == 2


def test_boolean_and_categorical_columns(tmp_path):
    frame = pl.DataFrame(
        {
            "flag": [True, False, True, None, True],
            "kind": pl.Series(["y", "x", None, "x", "y"], dtype=pl.Categorical),
        }
    )
    columns = _columns(profile(_write(tmp_path, frame)))

    flag = columns["flag"]
    assert (flag["true_count"], flag["false_count"], flag["null_count"]) == (3, 1, 1)
    assert flag["top_values"] == [{"value": True, "count": 3}, {"value": False, "count": 1}]
    kind = columns["kind"]
    assert kind["type"] == "categorical" and kind["distinct_count"] == 2
    assert kind["top_values"] == [{"value": "x", "count": 2}, {"value": "y", "count": 2}]


def test_dates_and_datetimes_as_iso_strings(tmp_path):
    frame = pl.DataFrame(
        {
            "day": [date(2024, 1, 1), date(2024, 1, 3), None, date(2024, 1, 1), date(2024, 1, 21)],
            "at": pl.Series(
                [datetime(2024, 1, 1, 4, tzinfo=UTC)] * 4 + [datetime(2024, 1, 1, 5, tzinfo=UTC)]
            ).dt.convert_time_zone("Asia/Shanghai"),
        }
    )
    columns = _columns(profile(_write(tmp_path, frame)))

    day = columns["day"]
    assert day["type"] == "date"
    assert (day["min"], day["max"], day["distinct_count"], day["null_count"]) == ("2024-01-01", "2024-01-21", 3, 1)
    # 21 possible days: bins of two days, [edge, next edge).
    assert day["histogram"]["bins"] == [date(2024, 1, day).isoformat() for day in range(1, 24, 2)]
    assert day["histogram"]["counts"] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    at = columns["at"]
    assert at["type"] == "datetime"
    assert (at["min"], at["max"]) == ("2024-01-01T12:00:00+08:00", "2024-01-01T13:00:00+08:00")
    assert at["histogram"]["bins"][0] == "2024-01-01T12:00:00+08:00"
    assert at["histogram"]["counts"][0] == 4 and at["histogram"]["counts"][-1] == 1
    assert sum(at["histogram"]["counts"]) == 5


def test_duplicate_rows_of_a_wide_file_are_hashed_a_few_columns_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(profile_module, "HASH_COLUMNS", 2)
    frame = pl.DataFrame(
        {
            "a": [1, 1, 1, 2, 1],
            "b": ["x", "x", "x", "x", "x"],
            "c": [0.5, 0.5, 0.5, 0.5, 0.5],
            "d": ["同", "同", "异", "同", "同"],  # the third row differs only in the second group of columns
            "e": [None, None, None, None, None],
        }
    )
    assert profile(_write(tmp_path, frame))["duplicate_rows"] == 2


def test_duplicate_rows_count_repeats_of_earlier_rows(tmp_path):
    frame = pl.DataFrame(
        {"a": [1, 1, 2, 1, None, None, 2], "b": ["x", "x", "y", "x", None, None, "z"]},
    )
    # (1, x) three times, (None, None) twice: three rows repeat an earlier one; (2, z) differs from (2, y).
    assert profile(_write(tmp_path, frame))["duplicate_rows"] == 3


def test_memory_bytes_matches_polars_estimate(tmp_path):
    frame = pl.DataFrame(
        {
            "i": [1, 2, 3],
            "s": ["ab", "北京", "x" * 20],
            "b": [True, False, True],
            "d": [date(2024, 1, 1)] * 3,
            "f": pl.Series([1.0, None, 2.0], dtype=pl.Float32),
        }
    )
    assert profile(_write(tmp_path, frame))["memory_bytes"] == frame.estimated_size()


def test_empty_file(tmp_path):
    frame = pl.DataFrame(
        schema={"n": pl.Int64, "x": pl.Float64, "s": pl.String, "b": pl.Boolean, "d": pl.Date, "c": pl.Categorical}
    )

    result = profile(_write(tmp_path, frame))

    assert (result["rows"], result["columns"], result["duplicate_rows"], result["memory_bytes"]) == (0, 6, 0, 0)
    columns = _columns(result)
    assert all(column["null_count"] == 0 and column["null_ratio"] == 0.0 for column in columns.values())
    assert columns["n"]["histogram"] is None and columns["n"]["min"] is None
    assert columns["s"]["top_values"] == [] and columns["d"]["histogram"] is None
    assert (columns["b"]["true_count"], columns["b"]["false_count"]) == (0, 0)
    json.dumps(result, allow_nan=False)


def test_high_cardinality_strings_counted_in_partitions_agree_with_one_pass(tmp_path, monkeypatch):
    values = [f"name-{number % 700}" for number in range(3_000)] + ["name-5"] * 7 + [None] * 4
    path = _write(tmp_path, pl.DataFrame({"s": values}))
    whole = _columns(profile(path))["s"]
    counted = pl.Series("s", values).drop_nulls().value_counts(name="count")

    monkeypatch.setattr(profile_module, "COUNT_PARTITION_BYTES", 4_000)  # about twenty partitions
    parts = _columns(profile(path))["s"]

    assert parts == whole
    assert whole["distinct_count"] == 700
    assert whole["top_values"][0] == {"value": "name-5", "count": 12}
    # Every other value appears 4 or 5 times; the top ten are the 5s in text order.
    fives = sorted(counted.filter(pl.col("count") == 5)["s"].to_list())
    assert [item["value"] for item in whole["top_values"][1:]] == fives[:9]


def test_partitions_are_written_once_and_their_scratch_files_removed(tmp_path, monkeypatch):
    values = [f"id-{number}" for number in range(2_000)] + ["id-7"] * 3
    path = _write(tmp_path, pl.DataFrame({"s": values}))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(profile_module, "COUNT_PARTITION_BYTES", 4_000)
    filters = []
    original_filter = pl.LazyFrame.filter

    def filter_(self, *predicates, **constraints):
        filters.append(predicates)
        return original_filter(self, *predicates, **constraints)

    monkeypatch.setattr(pl.LazyFrame, "filter", filter_)

    column = _columns(profile(path))["s"]

    assert column["distinct_count"] == 2_000
    assert column["top_values"][0] == {"value": "id-7", "count": 4}
    assert filters == []  # the column is not read again for each partition
    assert list(scratch.iterdir()) == []

    # A failure while counting removes the partitions' files too.
    monkeypatch.setattr(profile_module, "TOP_VALUES", "ten")
    with pytest.raises(TypeError):
        profile(path)
    assert list(scratch.iterdir()) == []


def test_distinct_counts_of_other_types_become_approximate_above_the_threshold(tmp_path, monkeypatch):
    path = _write(tmp_path, pl.DataFrame({"l": [[1], [1], [2], None]}))
    assert _columns(profile(path))["l"] == {
        "name": "l",
        "type": "list",
        "null_count": 1,
        "null_ratio": 0.25,
        "distinct_count": 2,
        "distinct_approximate": False,
    }

    monkeypatch.setattr(profile_module, "EXACT_DISTINCT_ROWS", 2)
    assert _columns(profile(path))["l"]["distinct_approximate"] is True


def test_result_is_json_safe_deterministic_and_reports_progress(tmp_path):
    frame = pl.DataFrame(
        {
            "n": list(range(50)),
            "x": [float(number) / 3 for number in range(50)],
            "s": [f"row {number % 7}" for number in range(50)],
            "d": [date(2024, 1, 1 + number % 28) for number in range(50)],
        }
    )
    path = _write(tmp_path, frame)
    fractions: list[float] = []

    first = profile(path, progress=fractions.append)

    assert json.dumps(first, allow_nan=False) == json.dumps(profile(path), allow_nan=False)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) == len(set(fractions)) <= 12


def _wide(tmp_path, columns: int = 260, rows: int = 40):
    frame = pl.DataFrame(
        {
            **{f"数{i}": [(r * (i + 3)) % 17 + 0.5 * (r % 2) for r in range(rows)] for i in range(columns // 2)},
            **{f"文{i}": [f"类{(r + i) % 5}" if r % 7 else None for r in range(rows)] for i in range(columns // 2)},
        }
    )
    path = tmp_path / "wide.parquet"
    frame.write_parquet(path, **PARQUET_OPTIONS)
    return str(path)


def test_a_wide_small_file_is_profiled_in_memory_column_by_column_with_the_same_result(tmp_path, monkeypatch):
    path = _wide(tmp_path)
    scans = []
    scan = pl.scan_parquet
    monkeypatch.setattr(pl, "scan_parquet", lambda *args, **kwargs: scans.append(args) or scan(*args, **kwargs))
    in_memory = profile(path)
    assert scans == []  # read once, not a query on the file (and its 260-column footer) per column
    monkeypatch.setattr(profile_module, "WIDE_COLUMNS", 10_000)
    assert profile(path) == in_memory
    assert scans  # the same file read where it lies
    assert in_memory["columns"] == 260 and in_memory["column_profiles"][130]["top_values"][0]["value"].startswith("类")


def test_a_wide_large_file_is_read_where_it_lies(tmp_path, monkeypatch):
    monkeypatch.setattr(profile_module, "IN_MEMORY_BYTES", 1000)
    read = []
    monkeypatch.setattr(pl, "read_parquet", lambda *args, **kwargs: read.append(args))
    assert profile(_wide(tmp_path))["rows"] == 40
    assert read == []
