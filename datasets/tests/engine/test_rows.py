"""read_rows() (pages read from the row groups that hold them) and json_safe()."""

import base64
import datetime as dt
import json
import math
import os
import time
import uuid
import zoneinfo
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets.engine import rows as rows_module
from datasets.engine.rows import json_safe, read_rows
from datasets.engine.schema import PARQUET_OPTIONS


@pytest.fixture
def paged(tmp_path) -> str:
    """1,050 rows in row groups of 100."""
    path = str(tmp_path / "paged.parquet")
    table = pa.table(
        {
            "id": pa.array(range(1050), pa.int64()),
            "name": [f"名{i}" for i in range(1050)],
            "value": [i / 4 if i % 7 else None for i in range(1050)],
        }
    )
    pq.write_table(table, path, row_group_size=100)
    assert pq.read_metadata(path).num_row_groups == 11
    return path


def test_a_page_across_a_row_group_boundary_reads_only_those_groups(paged, monkeypatch):
    read_groups = []
    original = pq.ParquetFile.read_row_groups

    def spy(self, row_groups, *args, **kwargs):
        read_groups.append(list(row_groups))
        return original(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)

    page = read_rows(paged, offset=95, limit=10)

    assert [row["id"] for row in page] == list(range(95, 105))
    assert page[0] == {"id": 95, "name": "名95", "value": 23.75}
    assert page[3]["value"] is None  # 98 % 7 == 0
    assert read_groups == [[0, 1]]

    read_groups.clear()
    assert [row["id"] for row in read_rows(paged, offset=1000, limit=100)] == list(range(1000, 1050))
    assert read_groups == [[10]]

    read_groups.clear()
    assert [row["id"] for row in read_rows(paged, offset=0, limit=1050)] == list(range(1050))
    assert read_groups == [list(range(11))]


def test_ends_and_empty_pages(paged):
    assert read_rows(paged, offset=1049, limit=50) == [{"id": 1049, "name": "名1049", "value": 1049 / 4}]
    assert read_rows(paged, offset=1050, limit=50) == []
    assert read_rows(paged, offset=5000, limit=50) == []
    assert read_rows(paged, offset=10, limit=0) == []
    with pytest.raises(ValueError):
        read_rows(paged, offset=-1, limit=5)
    with pytest.raises(ValueError):
        read_rows(paged, offset=0, limit=-5)


def test_column_selection(paged):
    assert read_rows(paged, offset=200, limit=2, columns=["name"]) == [{"name": "名200"}, {"name": "名201"}]
    page = read_rows(paged, offset=200, limit=1, columns=["value", "id"])
    assert list(page[0]) == ["value", "id"]
    with pytest.raises(ValueError, match="nope"):
        read_rows(paged, offset=0, limit=1, columns=["id", "nope"])


def test_the_footer_is_read_once_per_version_of_the_file(tmp_path, monkeypatch):
    path = str(tmp_path / "cached.parquet")
    pl.DataFrame({"n": [1, 2, 3]}).write_parquet(path)
    calls = []
    original = pq.read_metadata
    monkeypatch.setattr(pq, "read_metadata", lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs))
    rows_module._layout_cached.cache_clear()

    read_rows(path, offset=0, limit=1)
    read_rows(path, offset=1, limit=2)
    assert len(calls) == 1

    # Rewritten in place (another size, another mtime): read again, not served from the old footer.
    pl.DataFrame({"n": [10, 20, 30, 40]}).write_parquet(path)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert read_rows(path, offset=3, limit=5) == [{"n": 40}]
    assert len(calls) == 2


def test_values_of_every_type_come_out_json_safe(tmp_path):
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    frame = pl.DataFrame(
        {
            "f": [float("nan"), float("inf"), float("-inf")],
            "big": [2**53 + 1, 5, None],
            "dec": [Decimal("12.50"), Decimal("-0.01"), None],
            "day": [dt.date(2024, 1, 2), None, None],
            "at": [dt.datetime(2024, 1, 2, 3, 4, 5, 6), None, None],
            "at_tz": [dt.datetime(2024, 1, 2, 11, 4, 5, tzinfo=shanghai), None, None],
            "clock": [dt.time(8, 30), dt.time(8, 30, 15, 500000), None],
            "took": [dt.timedelta(hours=1, minutes=30), None, None],
            "raw": [b"\x00\xff", None, None],
            "tags": [["a", "b"], [], None],
            "point": [{"x": 1.5, "y": float("nan")}, None, None],
        },
        schema_overrides={"dec": pl.Decimal(10, 2)},
    )
    path = str(tmp_path / "types.parquet")
    frame.write_parquet(path, **PARQUET_OPTIONS)

    page = read_rows(path, offset=0, limit=3)

    assert page[0] == {
        "f": None,
        "big": "9007199254740993",
        "dec": "12.50",
        "day": "2024-01-02",
        "at": "2024-01-02T03:04:05.000006",
        "at_tz": "2024-01-02T03:04:05Z",
        "clock": "08:30:00",
        "took": "PT1H30M",
        "raw": base64.b64encode(b"\x00\xff").decode(),
        "tags": ["a", "b"],
        "point": {"x": 1.5, "y": None},
    }
    assert page[1]["f"] == "Infinity" and page[2]["f"] == "-Infinity"
    assert page[1]["big"] == 5 and page[1]["tags"] == []
    assert page[1]["clock"] == "08:30:15.500000"  # as isoformat() writes it, though polars stores nanoseconds
    json.dumps(page, allow_nan=False)  # standard JSON: no NaN or Infinity literals


def test_nanosecond_values_keep_their_nine_digits(tmp_path):
    path = str(tmp_path / "ns.parquet")
    table = pa.table(
        {
            "at": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
            "at_utc": pa.array([1_700_000_000_000_000_001, None], pa.timestamp("ns", tz="UTC")),
            "took": pa.array([90_000_000_000_001, None], pa.duration("ns")),
            "clock": pa.array([(8 * 3600 + 30 * 60) * 10**9 + 5, None], pa.time64("ns")),
        }
    )
    pq.write_table(table, path)

    assert read_rows(path, offset=0, limit=2) == [
        {
            "at": "2023-11-14T22:13:20.123456789",
            "at_utc": "2023-11-14T22:13:20.000000001Z",
            "took": "P1DT1H0.000000001S",
            "clock": "08:30:00.000000005",
        },
        {"at": None, "at_utc": None, "took": None, "clock": None},
    ]


def test_json_safe_choices():
    assert json_safe(None) is None and json_safe(True) is True and json_safe("文字") == "文字"
    assert json_safe(float("nan")) is None
    assert (json_safe(math.inf), json_safe(-math.inf)) == ("Infinity", "-Infinity")
    assert json_safe(1.5) == 1.5
    assert json_safe(2**53 - 1) == 2**53 - 1 and json_safe(-(2**53)) == str(-(2**53))
    assert json_safe(Decimal("1E+3")) == "1000" and json_safe(Decimal("0.000001")) == "0.000001"
    assert json_safe(Decimal("NaN")) is None and json_safe(Decimal("-Infinity")) == "-Infinity"
    assert json_safe(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05"
    eastern = dt.timezone(dt.timedelta(hours=-5))
    assert json_safe(dt.datetime(2024, 1, 2, 22, 0, tzinfo=eastern)) == "2024-01-03T03:00:00Z"
    assert json_safe(dt.date(2024, 1, 2)) == "2024-01-02" and json_safe(dt.time(23, 59, 59, 1)) == "23:59:59.000001"
    assert json_safe(dt.timedelta(0)) == "PT0S"
    assert json_safe(dt.timedelta(days=2)) == "P2D"
    assert json_safe(dt.timedelta(days=1, seconds=3723, microseconds=500000)) == "P1DT1H2M3.5S"
    assert json_safe(-dt.timedelta(seconds=1.25)) == "-PT1.25S"
    assert json_safe(b"hi") == "aGk=" and json_safe(bytearray(b"hi")) == "aGk="
    assert json_safe({1: (float("nan"), {"d": Decimal("2.0")})}) == {"1": [None, {"d": "2.0"}]}
    identifier = uuid.UUID(int=1)
    assert json_safe(identifier) == str(identifier)


def test_json_safe_unwraps_numpy_scalars():
    # numpy is not installed here: a stand-in with numpy's module name and .item() is what json_safe looks for.
    class Float64:
        __module__ = "numpy"

        def __init__(self, value: float) -> None:
            self.value = value

        def item(self) -> float:
            return self.value

    assert json_safe(Float64(float("nan"))) is None and json_safe(Float64(2.5)) == 2.5


@pytest.mark.skipif(not os.environ.get("ENGINE_BENCH"), reason="set ENGINE_BENCH=1 to measure page latency")
def test_page_latency_on_a_million_rows(tmp_path):
    """Prints the latency of 50-row pages at random offsets of a 1,000,000 x 20 canonical file (no assertion on
    time: machines differ)."""
    n = 1_000_000
    frame = pl.DataFrame({f"i{k}": pl.int_range(n, eager=True) * k for k in range(10)}).with_columns(
        [(pl.col("i1") / 7).alias(f"f{k}") for k in range(5)]
        + [pl.col("i2").cast(pl.String).alias(f"s{k}") for k in range(5)]
    )
    path = str(tmp_path / "million.parquet")
    frame.write_parquet(path, **PARQUET_OPTIONS)
    read_rows(path, offset=0, limit=50)
    timings = []
    for offset in range(0, n - 50, 49_999):
        start = time.perf_counter()
        page = read_rows(path, offset=offset, limit=50)
        timings.append((time.perf_counter() - start) * 1000)
        assert page[0]["i1"] == offset
    timings.sort()
    print(f"\n50-row page: median {timings[len(timings) // 2]:.2f} ms, max {timings[-1]:.2f} ms")
