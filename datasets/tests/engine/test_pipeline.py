"""Pipelines: validation before anything runs, every step's values, and reproducible output."""

import hashlib
import math
import os
from datetime import date, datetime

import polars as pl
import pytest

from datasets.engine import pipeline
from datasets.engine.errors import PipelineInvalid
from datasets.engine.schema import PARQUET_OPTIONS

MASK = 2**64 - 1


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English (the default language is zh-hans)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def _key(row: int, seed: int) -> int:
    """SplitMix64 of (row number, seed), written out independently of the engine's polars expression."""
    z = ((row + 1) * 0x9E3779B97F4A7C15 + seed) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _chosen(rows: int, count: int, seed: int) -> list[int]:
    """Row numbers (in order) of the `count` rows with the smallest keys."""
    return sorted(sorted(range(rows), key=lambda row: _key(row, seed))[:count])


def _naive(text: str) -> datetime:
    """A datetime without a zone, as a naive datetime column holds."""
    return datetime.fromisoformat(text)


def _write(tmp_path, frame: pl.DataFrame, name: str = "src.parquet") -> str:
    path = str(tmp_path / name)
    frame.write_parquet(path, **PARQUET_OPTIONS)
    return path


def _run(tmp_path, frame: pl.DataFrame, steps: list[dict]) -> pl.DataFrame:
    destination = str(tmp_path / "dst.parquet")
    pipeline.run(_write(tmp_path, frame), steps, destination)
    return pl.read_parquet(destination)


PEOPLE = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7, 8],
        "age": [20, None, 40, 50, 60, None, 80, 20],
        "city": ["bj", "sh", "bj", None, "gz", "sh", "bj", "bj"],
        "joined": [f"2024-0{month}-01" for month in (1, 2, 3, 4, 5, 6, 7, 1)],
        "score": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 1.0],
        "member": [True, False, True, True, False, None, True, True],
        "junk": ["x"] * 8,
    }
)
PEOPLE_COLUMNS = [
    {"name": "id", "type": "integer", "nullable": False},
    {"name": "age", "type": "integer", "nullable": True},
    {"name": "city", "type": "string", "nullable": True},
    {"name": "joined", "type": "string", "nullable": False},
    {"name": "score", "type": "float", "nullable": False},
    {"name": "member", "type": "boolean", "nullable": True},
    {"name": "junk", "type": "string", "nullable": False},
]


def test_a_pipeline_of_every_step(tmp_path):
    steps = [
        {"type": "drop_columns", "columns": ["junk"]},
        {"type": "rename", "mapping": {"city": "town"}},
        {"type": "cast", "column": "joined", "to": "date"},
        # Mean of 20, 40, 50, 60, 80, 20 is 45.
        {"type": "fill_na", "columns": ["age"], "strategy": "mean"},
        {"type": "drop_na", "columns": ["town"]},  # drops id 4
        {"type": "filter", "column": "joined", "op": "lt", "value": "2024-07-01"},  # drops id 7
        {"type": "deduplicate", "columns": ["age", "joined", "score"]},  # id 8 repeats id 1
        {"type": "normalize", "columns": ["score"]},  # 1, 2, 3, 5, 6 over a range of 5
        {"type": "label_encode", "columns": ["member"]},  # False 0, True 1
        {"type": "one_hot", "columns": ["town"], "categories": {"town": ["bj", "gz", "sh"]}},
        {"type": "select_columns", "columns": ["id", "age", "town_bj", "town_sh", "joined", "score", "member"]},
        {"type": "sample", "n": 4, "seed": 3},
        {"type": "train_test_split", "test_ratio": 0.5, "seed": 5, "column": "part"},
    ]
    assert {step["type"] for step in steps} == set(pipeline.STEP_TYPES)

    out = _run(tmp_path, PEOPLE, steps)

    before_sample = {
        "id": [1, 2, 3, 5, 6],
        "age": [20.0, 45.0, 40.0, 60.0, 45.0],
        "town_bj": [1, 0, 1, 0, 0],
        "town_sh": [0, 1, 0, 0, 1],
        "joined": [date(2024, month, 1) for month in (1, 2, 3, 5, 6)],
        "score": [0.0, 0.2, 0.4, 0.8, 1.0],
        "member": [1, 0, 1, 0, None],
    }
    kept = _chosen(5, 4, seed=3)
    tested = {kept[position] for position in _chosen(4, 2, seed=5)}
    assert out.columns == [*before_sample, "part"]
    assert out.schema["town_bj"] == pl.UInt8 and out.schema["member"] == pl.Int64
    for name, values in before_sample.items():
        expected = [values[row] for row in kept]
        assert out[name].to_list() == (pytest.approx(expected) if name == "score" else expected), name
    assert out["part"].to_list() == ["test" if row in tested else "train" for row in kept]


def test_run_returns_the_written_columns(tmp_path):
    destination = str(tmp_path / "dst.parquet")
    converted = pipeline.run(
        _write(tmp_path, PEOPLE), [{"type": "select_columns", "columns": ["age", "id"]}], destination
    )
    assert converted.row_count == 8
    assert converted.columns == [
        {"name": "age", "type": "integer", "nullable": True},
        {"name": "id", "type": "integer", "nullable": False},
    ]


def test_one_hot_from_the_data(tmp_path):
    frame = pl.DataFrame({"color": ["red", None, "blue", "red"], "ok": [True, False, None, True], "n": [1, 2, 3, 4]})
    steps = [
        {"type": "one_hot", "columns": ["color"], "drop_original": False},
        {"type": "one_hot", "columns": ["ok"]},
    ]

    out = _run(tmp_path, frame, steps)

    assert out.columns == ["color", "color_blue", "color_red", "ok_false", "ok_true", "n"]
    assert out["color_blue"].to_list() == [0, 0, 1, 0]
    assert out["color_red"].to_list() == [1, 0, 0, 1]
    assert out["ok_false"].to_list() == [0, 1, 0, 0]
    assert out["ok_true"].to_list() == [1, 0, 0, 1]


def test_one_hot_with_more_values_than_allowed_fails_at_run_time(tmp_path):
    frame = pl.DataFrame({"n": [1, 2], "color": ["red", "green"]})
    source = _write(tmp_path, frame)
    steps = [{"type": "drop_columns", "columns": ["n"]}, {"type": "one_hot", "columns": ["color"], "max_categories": 1}]

    with pytest.raises(PipelineInvalid) as caught:
        pipeline.run(source, steps, str(tmp_path / "dst.parquet"))

    assert caught.value.details == {"step": 1, "field": "max_categories"}
    assert sorted(os.listdir(tmp_path)) == ["src.parquet"]


@pytest.mark.parametrize(
    ("column", "op", "value", "kept"),
    [
        ("n", "eq", 5, [1]),
        ("n", "ne", 5, [0, 3]),
        ("n", "lt", 5, [0]),
        ("n", "le", 5, [0, 1]),
        ("n", "gt", 4.5, [1, 3]),
        ("n", "ge", 10, [3]),
        ("n", "in", [1, 10], [0, 3]),
        ("n", "not_in", [1], [1, 3]),
        ("n", "is_null", None, [2]),
        ("n", "not_null", None, [0, 1, 3]),
        ("s", "contains", "a.", [1]),
        ("s", "starts_with", "北", [2]),
        ("s", "eq", "北京", [2]),
        ("c", "in", ["x"], [0, 3]),
        ("d", "ge", "2024-01-02", [1, 2]),
        ("d", "in", ["2024-01-03"], [2]),
        ("t", "lt", "2024-01-01T12:00:00", [0]),
        ("b", "eq", False, [1]),
    ],
)
def test_filter_ops(tmp_path, column, op, value, kept):
    frame = pl.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "n": [1, 5, None, 10],
            "s": ["abc", "xa.y", "北京", None],
            "c": pl.Series(["x", "y", None, "x"], dtype=pl.Categorical),
            "d": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), None],
            "t": [_naive("2024-01-01T11:00"), _naive("2024-01-01T12:00"), None, None],
            "b": [True, False, None, True],
        }
    )
    out = _run(tmp_path, frame, [{"type": "filter", "column": column, "op": op, "value": value}])
    assert out["row"].to_list() == kept


@pytest.mark.parametrize(
    ("op", "value", "kept"),
    [
        ("in", ["2024-01-01T12:00:00"], [0]),  # no offset: read in the column's zone
        ("in", ["2024-01-01T04:00:00+00:00"], [0]),  # the same instant
        ("gt", "2024-01-01T12:00:00", [1]),
        ("le", "2024-01-01T05:00:00Z", [0]),
    ],
)
def test_filter_reads_datetimes_in_the_columns_zone(tmp_path, op, value, kept):
    moments = pl.Series([_naive("2024-01-01T12:00"), _naive("2024-01-02T12:00")]).dt.replace_time_zone("Asia/Shanghai")
    out = _run(
        tmp_path,
        pl.DataFrame({"row": [0, 1], "at": moments}),
        [{"type": "filter", "column": "at", "op": op, "value": value}],
    )
    assert out["row"].to_list() == kept


def test_decimals_compare_and_fill_as_numbers_and_stay_decimal(tmp_path):
    frame = pl.DataFrame({"row": [0, 1, 2], "price": pl.Series(["1.50", None, "3.25"]).cast(pl.Decimal(10, 2))})
    steps = [
        {"type": "fill_na", "columns": ["price"], "strategy": "constant", "value": 2},
        {"type": "filter", "column": "price", "op": "not_in", "value": [1.5]},
    ]

    out = _run(tmp_path, frame, steps)

    assert out.schema["price"] == pl.Decimal(10, 2)
    assert out["row"].to_list() == [1, 2]
    assert [float(value) for value in out["price"]] == [2.0, 3.25]


def test_casts(tmp_path):
    frame = pl.DataFrame(
        {
            "text_number": ["12", "x", None],
            "fraction": [2.7, -2.7, None],
            "text_flag": [" Yes", "0", "F"],
            "text_time": ["2024-01-02T03:04:05", "2024-01-02 03:04:06", None],
            "moment": [_naive("2024-01-02T23:59"), None, _naive("2023-05-06T00:00")],
            "number": [1, 0, None],
        }
    )
    steps = [
        {"type": "cast", "column": "text_number", "to": "integer", "strict": False},
        {"type": "cast", "column": "fraction", "to": "integer"},
        {"type": "cast", "column": "text_flag", "to": "boolean"},
        {"type": "cast", "column": "text_time", "to": "datetime", "strict": False},
        {"type": "cast", "column": "moment", "to": "date"},
        {"type": "cast", "columns": ["number"], "to": "string"},
    ]

    out = _run(tmp_path, frame, steps)

    assert out["text_number"].to_list() == [12, None, None]
    assert out["fraction"].to_list() == [2, -2, None]  # toward zero
    assert out["text_flag"].to_list() == [True, False, False]
    assert out["text_time"].to_list()[:2] == [_naive("2024-01-02T03:04:05"), _naive("2024-01-02T03:04:06")]
    assert out["moment"].to_list() == [date(2024, 1, 2), None, date(2023, 5, 6)]
    assert out["number"].to_list() == ["1", "0", None]


def test_a_strict_cast_that_fails_names_its_step_and_leaves_nothing(tmp_path):
    frame = pl.DataFrame({"a": ["1", "2", "three"], "b": ["4", "5", "6"]})
    source = _write(tmp_path, frame)
    steps = [
        {"type": "cast", "column": "b", "to": "integer"},
        {"type": "rename", "mapping": {"a": "amount"}},
        {"type": "cast", "columns": ["amount"], "to": "integer"},
    ]

    with pytest.raises(PipelineInvalid) as caught:
        pipeline.run(source, steps, str(tmp_path / "dst.parquet"))

    assert caught.value.details == {"step": 2, "field": "to"}
    assert '"three"' in caught.value.message and '"amount"' in caught.value.message
    assert sorted(os.listdir(tmp_path)) == ["src.parquet"]


def test_fill_strategies(tmp_path):
    frame = pl.DataFrame(
        {
            "median": [1, None, 3, 10],
            "mode": ["b", "a", None, "b"],
            "tie": [2, 1, None, None],
            "text": ["x", None, None, "y"],
            "day": [None, date(2024, 1, 1), None, None],
        }
    )
    steps = [
        {"type": "fill_na", "columns": ["median"], "strategy": "median"},
        {"type": "fill_na", "columns": ["mode", "tie"], "strategy": "mode"},
        {"type": "fill_na", "columns": ["text"], "strategy": "constant", "value": "未知"},
        {"type": "fill_na", "columns": ["day"], "strategy": "constant", "value": "2000-02-29"},
    ]

    out = _run(tmp_path, frame, steps)

    assert out["median"].to_list() == [1.0, 3.0, 3.0, 10.0]
    assert out["mode"].to_list() == ["b", "a", "b", "b"]
    assert out["tie"].to_list() == [2, 1, 1, 1]  # 1 and 2 tie: the smaller
    assert out["text"].to_list() == ["x", "未知", "未知", "y"]
    assert out["day"].to_list() == [date(2000, 2, 29), date(2024, 1, 1), date(2000, 2, 29), date(2000, 2, 29)]


def test_means_are_exact_sums_whatever_the_order(tmp_path):
    # Added left to right in floats this is (1e16 + 1 - 1e16 + 1) / 4 = 0.25; the exact mean is 0.5. A sum that
    # depends on the order (as parallel pieces do) cannot be relied on for byte-identical output.
    frame = pl.DataFrame({"x": [1e16, 1.0, -1e16, 1.0, None], "y": [1e16, 1.0, -1e16, 1.0, None]})
    steps = [
        {"type": "fill_na", "columns": ["x"], "strategy": "mean"},
        {"type": "normalize", "columns": ["y"], "method": "z_score"},
    ]

    out = _run(tmp_path, frame, steps)

    assert out["x"].to_list()[4] == 0.5
    # 1 sits 0.5 above the mean, over a deviation of about 1e16 / sqrt(2).
    assert out["y"].to_list()[1] == pytest.approx(0.5 / (1e16 / 2**0.5), rel=1e-9, abs=0)


def test_normalize_z_score_and_constant_columns(tmp_path):
    frame = pl.DataFrame({"x": [1.0, 3.0, None, 5.0], "flat": [4, 4, 4, None]})
    steps = [
        {"type": "normalize", "columns": ["x"], "method": "z_score"},
        {"type": "normalize", "columns": ["flat"], "method": "min_max"},
    ]

    out = _run(tmp_path, frame, steps)

    # Mean 3, population standard deviation sqrt(8 / 3).
    spread = (8 / 3) ** 0.5
    assert out["x"].to_list()[:2] == pytest.approx([-2 / spread, 0.0])
    assert out["x"].to_list()[2] is None and out["x"].to_list()[3] == pytest.approx(2 / spread)
    assert out["flat"].to_list() == [0.0, 0.0, 0.0, None]


def test_drop_na_all_and_deduplicate_last(tmp_path):
    frame = pl.DataFrame({"a": [1, None, 1, None, 2], "b": ["x", None, "y", "z", "x"], "row": [0, 1, 2, 3, 4]})
    steps = [
        {"type": "drop_na", "columns": ["a", "b"], "how": "all"},
        {"type": "deduplicate", "columns": ["a"], "keep": "last"},
    ]

    out = _run(tmp_path, frame, steps)

    # Row 1 is all null; of a = 1 the last (row 2) stays; rows keep their order.
    assert out["row"].to_list() == [2, 3, 4]


def test_sample_by_fraction_rounds_half_up_and_by_n_caps_at_the_rows(tmp_path):
    frame = pl.DataFrame({"row": list(range(10))})

    by_fraction = _run(tmp_path, frame, [{"type": "sample", "fraction": 0.25, "seed": 11}])
    everything = _run(tmp_path, frame, [{"type": "sample", "n": 50}])

    assert by_fraction["row"].to_list() == _chosen(10, 3, seed=11)  # 2.5 rounds to 3
    assert everything["row"].to_list() == list(range(10))


def test_train_test_split_exact_per_stratum(tmp_path):
    groups = ["a"] * 500 + ["b"] * 300 + ["c"] * 199 + [None] * 5 + ["d"]
    frame = pl.DataFrame({"row": list(range(len(groups))), "group": groups})
    steps = [{"type": "train_test_split", "test_ratio": 0.3, "stratify": "group", "seed": 42}]

    out = _run(tmp_path, frame, steps)
    counts = dict(out.filter(pl.col("split") == "test").group_by("group").len().iter_rows())

    # 150, 90, 59.7 -> 60, 1.5 -> 2 (half up), 0.3 -> 0.
    assert counts == {"a": 150, "b": 90, "c": 60, None: 2}
    assert out["row"].to_list() == list(range(len(groups)))
    assert set(out["split"].unique()) == {"train", "test"}
    # Within a stratum the test rows are those with the smallest keys of the whole frame's row numbers.
    rows_c = [row for row, group in enumerate(groups) if group == "c"]
    test_c = sorted(rows_c, key=lambda row: _key(row, 42))[:60]
    assert out.filter(pl.col("split") == "test", pl.col("group") == "c")["row"].to_list() == sorted(test_c)


def test_train_test_split_depends_on_the_seed(tmp_path):
    frame = pl.DataFrame({"row": list(range(200))})

    first = _run(tmp_path, frame, [{"type": "train_test_split", "test_ratio": 0.25}])
    again = _run(tmp_path, frame, [{"type": "train_test_split", "test_ratio": 0.25, "seed": 0}])
    other = _run(tmp_path, frame, [{"type": "train_test_split", "test_ratio": 0.25, "seed": 1}])

    assert (first["split"] == "test").sum() == 50
    assert first["split"].to_list() == again["split"].to_list() != other["split"].to_list()


def test_runs_are_byte_identical(tmp_path):
    rows = 40_000  # a few row groups
    frame = pl.DataFrame(
        {
            "n": list(range(rows)),
            "x": [(row * 7919 % 1000) / 7 for row in range(rows)],
            "g": [f"g{row % 13}" for row in range(rows)],
            "s": [None if row % 11 == 0 else f"v{row % 97}" for row in range(rows)],
        }
    )
    source = _write(tmp_path, frame)
    steps = [
        {"type": "fill_na", "columns": ["s"], "strategy": "mode"},
        {"type": "normalize", "columns": ["x"], "method": "z_score"},
        {"type": "one_hot", "columns": ["g"]},
        {"type": "label_encode", "columns": ["s"]},
        {"type": "sample", "fraction": 0.7, "seed": 123},
        {"type": "train_test_split", "test_ratio": 0.2, "stratify": "s", "seed": 9},
    ]
    digests = []
    for name in ("one.parquet", "two.parquet"):
        pipeline.run(source, steps, str(tmp_path / name))
        with open(tmp_path / name, "rb") as written:
            digests.append(hashlib.sha256(written.read()).hexdigest())

    assert digests[0] == digests[1]
    assert pl.read_parquet(tmp_path / "one.parquet").height == 28_000
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]


def test_validate_fills_in_defaults_and_is_idempotent():
    steps = [
        {"type": "drop_na"},
        {"type": "cast", "column": "age", "to": "float"},
        {"type": "normalize", "columns": ["age"]},
        {"type": "one_hot", "columns": ["city"]},
        {"type": "deduplicate"},
        {"type": "sample", "fraction": 0.5},
        {"type": "train_test_split", "test_ratio": 0.2},
    ]

    normalized = pipeline.validate(steps, PEOPLE_COLUMNS)

    assert normalized == [
        {"type": "drop_na", "columns": None, "how": "any"},
        {"type": "cast", "columns": ["age"], "to": "float", "strict": True},
        {"type": "normalize", "columns": ["age"], "method": "min_max"},
        {"type": "one_hot", "columns": ["city"], "drop_original": True, "max_categories": 100, "categories": None},
        {"type": "deduplicate", "columns": None, "keep": "first"},
        {"type": "sample", "n": None, "fraction": 0.5, "seed": 0},
        {"type": "train_test_split", "test_ratio": 0.2, "seed": 0, "stratify": None, "column": "split"},
    ]
    assert pipeline.validate(normalized, PEOPLE_COLUMNS) == normalized


def test_validate_tracks_renamed_and_new_columns():
    steps = [
        {"type": "rename", "mapping": {"age": "years", "id": "age"}},
        {"type": "normalize", "columns": ["years", "age"]},
        {"type": "one_hot", "columns": ["city"], "categories": {"city": ["bj"]}},
        {"type": "train_test_split", "test_ratio": 0.5},
        {"type": "select_columns", "columns": ["city_bj", "split", "years"]},
    ]
    assert len(pipeline.validate(steps, PEOPLE_COLUMNS)) == 5


@pytest.mark.parametrize(
    ("steps", "step", "field"),
    [
        ({"type": "drop_na"}, None, None),
        ([], None, None),
        ([{"type": "drop_na"}] * 51, None, None),
        (["drop_na"], 0, None),
        ([{"type": "explode"}], 0, "type"),
        ([{"type": "drop_na", "colour": 1}], 0, "colour"),
        ([{"type": "fill_na", "columns": ["age"]}], 0, "strategy"),
        ([{"type": "drop_columns", "columns": ["nope"]}], 0, "columns"),
        (
            [{"type": "drop_columns", "columns": ["age"]}, {"type": "filter", "column": "age", "op": "not_null"}],
            1,
            "column",
        ),
        ([{"type": "rename", "mapping": {"age": "years"}}, {"type": "normalize", "columns": ["age"]}], 1, "columns"),
        ([{"type": "rename", "mapping": {"age": "id"}}], 0, "mapping"),
        ([{"type": "drop_columns", "columns": [column["name"] for column in PEOPLE_COLUMNS]}], 0, "columns"),
        ([{"type": "select_columns", "columns": ["id", "id"]}], 0, "columns"),
        ([{"type": "normalize", "columns": ["city"]}], 0, "columns"),
        ([{"type": "fill_na", "columns": ["city"], "strategy": "mean"}], 0, "columns"),
        ([{"type": "fill_na", "columns": ["age"], "strategy": "constant"}], 0, "value"),
        ([{"type": "fill_na", "columns": ["age"], "strategy": "constant", "value": "ten"}], 0, "value"),
        ([{"type": "fill_na", "columns": ["age"], "strategy": "mode", "value": 1}], 0, "value"),
        ([{"type": "filter", "column": "age", "op": "between", "value": 1}], 0, "op"),
        ([{"type": "filter", "column": "age", "op": "in", "value": 3}], 0, "value"),
        ([{"type": "filter", "column": "age", "op": "contains", "value": "3"}], 0, "column"),
        ([{"type": "filter", "column": "age", "op": "is_null", "value": 3}], 0, "value"),
        ([{"type": "filter", "column": "age", "op": "eq"}], 0, "value"),
        ([{"type": "filter", "column": "member", "op": "lt", "value": True}], 0, "column"),
        (
            [
                {"type": "cast", "column": "joined", "to": "date"},
                {"type": "filter", "column": "joined", "op": "eq", "value": "May"},
            ],
            1,
            "value",
        ),
        ([{"type": "cast", "column": "member", "to": "date"}], 0, "to"),
        ([{"type": "cast", "column": "age", "to": "decimal"}], 0, "to"),
        ([{"type": "cast", "to": "string"}], 0, "columns"),
        ([{"type": "cast", "column": "age", "to": "string", "strict": "yes"}], 0, "strict"),
        ([{"type": "one_hot", "columns": ["city"], "max_categories": 1000}], 0, "max_categories"),
        ([{"type": "one_hot", "columns": ["score"]}], 0, "columns"),
        ([{"type": "one_hot", "columns": ["city"], "categories": {"city": ["a", "a"]}}], 0, "categories"),
        ([{"type": "one_hot", "columns": ["city"]}, {"type": "select_columns", "columns": ["city_bj"]}], 1, "columns"),
        ([{"type": "label_encode", "columns": ["score"]}], 0, "columns"),
        ([{"type": "deduplicate", "keep": "middle"}], 0, "keep"),
        ([{"type": "sample", "n": 3, "fraction": 0.5}], 0, "n"),
        ([{"type": "sample", "fraction": 0}], 0, "fraction"),
        ([{"type": "sample", "n": 3, "seed": -1}], 0, "seed"),
        ([{"type": "train_test_split", "test_ratio": 1}], 0, "test_ratio"),
        ([{"type": "train_test_split", "test_ratio": 0.2, "column": "id"}], 0, "column"),
        ([{"type": "train_test_split", "test_ratio": 0.2, "stratify": "nope"}], 0, "stratify"),
        (
            [{"type": "train_test_split", "test_ratio": 0.2}, {"type": "train_test_split", "test_ratio": 0.2}],
            1,
            "column",
        ),
    ],
)
def test_validate_rejects(steps, step, field):
    with pytest.raises(PipelineInvalid) as caught:
        pipeline.validate(steps, PEOPLE_COLUMNS)

    assert caught.value.details.get("step") == step
    assert caught.value.details.get("field") == field
    if step is not None:
        assert caught.value.message.startswith(f"Step {step + 1}: ")


def test_run_rejects_an_invalid_pipeline_before_writing(tmp_path):
    source = _write(tmp_path, PEOPLE)
    with pytest.raises(PipelineInvalid) as caught:
        pipeline.run(source, [{"type": "normalize", "columns": ["city"]}], str(tmp_path / "dst.parquet"))
    assert caught.value.details == {"step": 0, "field": "columns"}
    assert sorted(os.listdir(tmp_path)) == ["src.parquet"]


def test_sample_and_fill_statistics_are_computed_before_the_query_so_it_streams(tmp_path):
    # A whole-frame rank or aggregation inside the step's query makes polars hold the whole frame in memory (a
    # sample of 3,000,000 rows: 940 MB more), so the sample's threshold, the split's test rows, the fill's median
    # or mode and min-max's range are found by queries of their own and enter the plan as literals. The rows
    # chosen stay the same (see the tests above).
    source = str(tmp_path / "in.parquet")
    pl.DataFrame({"x": [3, None, 1, 2, None, 3], "s": ["a", None, "b", "b", None, "a"]}).write_parquet(source)
    columns = [{"name": "x", "type": "integer", "nullable": True}, {"name": "s", "type": "string", "nullable": True}]
    for steps in (
        [{"type": "sample", "n": 2, "seed": 4}],
        [{"type": "sample", "fraction": 0.5}],
        [{"type": "fill_na", "columns": ["x"], "strategy": "median"}],
        [{"type": "fill_na", "columns": ["x", "s"], "strategy": "mode"}],
        [{"type": "normalize", "columns": ["x"], "method": "min_max"}],
        [{"type": "train_test_split", "test_ratio": 0.5}],
        [{"type": "train_test_split", "test_ratio": 0.5, "stratify": "s"}],
    ):
        plan = pipeline._plan(source, pipeline.validate(steps, columns)).explain(engine="streaming")
        for whole_frame in ("rank(", "len()", "median(", "mode(", "min(", "max("):
            assert whole_frame not in plan, (steps, plan)

    output = tmp_path / "output.parquet"
    pipeline.run(source, [{"type": "sample", "n": 2, "seed": 4}], str(output))
    assert pl.read_parquet(output).columns == ["x", "s"]  # the row numbers it filtered on are not kept
    pipeline.run(source, [{"type": "train_test_split", "test_ratio": 0.5, "stratify": "s"}], str(output))
    assert pl.read_parquet(output).columns == ["x", "s", "split"]


def test_nan_is_left_out_of_means_medians_and_scales_and_stays_nan(tmp_path):
    source = str(tmp_path / "in.parquet")
    pl.DataFrame({"v": [1.5, float("nan"), 2.5, None, 4.0]}).write_parquet(source)
    out = str(tmp_path / "out.parquet")

    def run(step):
        pipeline.run(source, [step], out)
        return pl.read_parquet(out)["v"].to_list()

    mean, deviation = 8 / 3, ((1.5 - 8 / 3) ** 2 + (2.5 - 8 / 3) ** 2 + (4.0 - 8 / 3) ** 2) ** 0.5 / 3**0.5
    scaled = run({"type": "normalize", "columns": ["v"], "method": "z_score"})
    assert [round(value, 12) for value in scaled[::2]] == [round((v - mean) / deviation, 12) for v in (1.5, 2.5, 4.0)]
    assert math.isnan(scaled[1]) and scaled[3] is None
    ranged = run({"type": "normalize", "columns": ["v"], "method": "min_max"})
    assert ranged[::2] == [0.0, 0.4, 1.0] and math.isnan(ranged[1]) and ranged[3] is None
    assert run({"type": "fill_na", "columns": ["v"], "strategy": "mean"})[3] == pytest.approx(mean)
    assert run({"type": "fill_na", "columns": ["v"], "strategy": "median"})[3] == 2.5


def test_normalizing_an_infinity_fails_the_run_instead_of_losing_the_column(tmp_path):
    source = str(tmp_path / "in.parquet")
    pl.DataFrame({"n": [1, 2], "v": [1.5, float("inf")]}).write_parquet(source)
    out = tmp_path / "out.parquet"
    for method in ("min_max", "z_score"):
        with pytest.raises(PipelineInvalid) as refused:
            pipeline.run(source, [{"type": "normalize", "columns": ["n", "v"], "method": method}], str(out))
        assert refused.value.details == {"step": 0, "field": "columns"}
        assert 'column "v" has infinite values' in refused.value.message
        assert not out.exists() and not (tmp_path / "out.parquet.part").exists()


def test_a_split_column_named_like_the_steps_own_scratch_columns_is_kept(tmp_path):
    source = str(tmp_path / "in.parquet")
    pl.DataFrame({"a": [1, 2, 3, 4], "s": ["x", "x", "y", "y"], "__row": [9, 8, 7, 6]}).write_parquet(source)
    out = tmp_path / "out.parquet"
    for column, stratify in (("__row_", None), ("__row_", "s"), ("__test", "s"), ("__test", None)):
        step = {"type": "train_test_split", "test_ratio": 0.5, "seed": 2, "stratify": stratify, "column": column}
        pipeline.run(source, [step], str(out))
        frame = pl.read_parquet(out)
        assert frame.columns == ["a", "s", "__row", column], step
        assert frame["__row"].to_list() == [9, 8, 7, 6] and sorted(frame[column].to_list()) == [
            "test",
            "test",
            "train",
            "train",
        ], step


def test_a_mode_fill_keeps_nanoseconds(tmp_path):
    source = str(tmp_path / "in.parquet")
    times = pl.Series([1_000_000_001, 1_000_000_001, None, 5]).cast(pl.Datetime("ns"))
    zoned = times.dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Shanghai")
    pl.DataFrame({"t": times, "z": zoned}).write_parquet(source)
    out = tmp_path / "out.parquet"
    pipeline.run(source, [{"type": "fill_na", "columns": ["t", "z"], "strategy": "mode"}], str(out))
    frame = pl.read_parquet(out)
    assert frame["t"].cast(pl.Int64).to_list() == frame["z"].cast(pl.Int64).to_list() == [1_000_000_001] * 3 + [5]


def test_a_sample_or_a_test_share_that_rounds_to_nothing_takes_no_row(tmp_path):
    source = str(tmp_path / "in.parquet")
    pl.DataFrame({"x": list(range(10))}).write_parquet(source)
    out = tmp_path / "out.parquet"
    pipeline.run(source, [{"type": "sample", "fraction": 0.01}], str(out))
    assert pl.read_parquet(out).height == 0
    pipeline.run(source, [{"type": "train_test_split", "test_ratio": 0.01}], str(out))
    assert pl.read_parquet(out)["split"].to_list() == ["train"] * 10
