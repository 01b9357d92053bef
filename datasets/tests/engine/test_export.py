"""write_csv(): the exact bytes of a small export, a round trip through convert, and nothing left on failure."""

import datetime as dt
import os
from decimal import Decimal

import polars as pl
import pytest

from datasets.engine.export import write_csv
from datasets.engine.formats import convert, detect
from datasets.engine.schema import PARQUET_OPTIONS


def _parquet(tmp_path, frame: pl.DataFrame, name: str = "data.parquet") -> str:
    path = str(tmp_path / name)
    frame.write_parquet(path, **PARQUET_OPTIONS)
    return path


def test_exact_bytes_rfc4180_quoting_and_iso_values(tmp_path):
    frame = pl.DataFrame(
        {
            "id": [1, None, -3],
            "text, quoted": ["a,b", 'say "hi"', "line\nbreak"],
            "城市": ["北京", "", None],
            "ok": [True, False, None],
            "day": [dt.date(2024, 1, 2), None, dt.date(1999, 12, 31)],
            "at": [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 120000), None],
            "at_utc": [dt.datetime(2024, 1, 2, 11, 4, 5, tzinfo=dt.UTC), None, None],  # 19:04:05 in Shanghai
            "took": [dt.timedelta(days=1, hours=2), dt.timedelta(seconds=-1.5), None],
            "tags": [[1, 2], [], None],
            "point": [{"x": 1, "y": "a"}, None, {"x": None, "y": 'q"'}],
            "raw": [b"\x00\x01", b"", None],
            "price": [Decimal("1.50"), Decimal("-0.01"), None],
            "ratio": [0.5, float("nan"), 1e-7],
        },
        schema_overrides={"price": pl.Decimal(10, 2), "at_utc": pl.Datetime("us", "Asia/Shanghai")},
    )
    dst = str(tmp_path / "export.csv")

    write_csv(_parquet(tmp_path, frame), dst)

    assert open(dst, "rb").read().decode("utf-8") == (
        'id,"text, quoted",城市,ok,day,at,at_utc,took,tags,point,raw,price,ratio\n'
        '1,"a,b",北京,true,2024-01-02,2024-01-02T03:04:05,2024-01-02T11:04:05Z,P1DT2H,"[1,2]",'
        '"{""x"":1,""y"":""a""}",AAE=,1.50,0.5\n'
        ',"say ""hi""","",false,,2024-01-02T03:04:05.120,,-PT1.5S,[],,"",-0.01,NaN\n'
        '-3,"line\nbreak",,,1999-12-31,,,,,"{""x"":null,""y"":""q\\""""}",,,1e-7\n'
    )


def test_no_bom_and_the_same_bytes_every_time(tmp_path):
    frame = pl.DataFrame({"名称": [f"行{i}" for i in range(50_000)], "n": list(range(50_000))})
    source = _parquet(tmp_path, frame)
    first, second = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")

    write_csv(source, first)
    write_csv(source, second)

    data = open(first, "rb").read()
    assert data == open(second, "rb").read()
    assert data.startswith("名称,n\n行0,0\n".encode())
    assert data.count(b"\n") == 50_001


def test_round_trip_through_convert(tmp_path):
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "price": [1.25, -0.5, None],
            "name": ["苹果, 红", 'say "hi"', "multi\nline"],
            "ok": [True, None, False],
            "day": [dt.date(2024, 1, 2), dt.date(2024, 2, 29), None],
            "at": [dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(2024, 1, 2, 3, 4, 5, 250000)],
            "at_utc": [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None, None],
        },
        schema_overrides={"at_utc": pl.Datetime("us", "UTC")},
    )
    csv_path = str(tmp_path / "export.csv")
    write_csv(_parquet(tmp_path, frame), csv_path)

    back = str(tmp_path / "back.parquet")
    convert(csv_path, detect(csv_path, "export.csv"), back)

    assert pl.read_parquet(back).equals(frame)


def test_failure_leaves_nothing_behind(tmp_path):
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    dst = tmp_path / "export.csv"

    with pytest.raises(Exception):  # noqa: B017 (whatever polars raises for a damaged file)
        write_csv(str(damaged), str(dst))

    assert sorted(os.listdir(tmp_path)) == ["damaged.parquet"]


def test_a_map_column_is_written_as_its_json_object_and_profiled_as_a_struct(tmp_path):
    """A Parquet map (pl.Map in polars 2) could not be written as CSV, and every CSV download of such a version
    started an engine process that crashed, for ever."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datasets.engine import profile
    from datasets.engine.schema import columns_of

    path = str(tmp_path / "map.parquet")
    maps = pa.array([[("键", 1), ("b", 2)], None, []], type=pa.map_(pa.string(), pa.int64()))
    pq.write_table(pa.table({"m": maps, "x": [1, 2, 3]}), path)
    write_csv(path, str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text() == 'm,x\n"{""键"":1,""b"":2}",1\n,2\n{},3\n'
    assert columns_of(path).columns[0] == {"name": "m", "type": "struct", "nullable": True}
    column = profile.profile(path)["column_profiles"][0]
    assert (column["type"], column["null_count"]) == ("struct", 1)
