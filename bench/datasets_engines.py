"""Benchmark: the engine of datasets, chosen by measurement (issue 10): polars, DuckDB and pyarrow compute on the
same 1,000,000 x 20 CSV as bench/datasets.py.

    python bench/datasets_engines.py [--rounds 3] [--rows 1000000] [--engines polars,duckdb,pyarrow,service]
                                     [--cpus 1]

Each engine does the same two jobs, each in a fresh subprocess (so VmHWM is that job's peak RSS), pinned to
`--cpus` cores (1 by default: the worker's share of the 2-core machine; every engine is told that many threads):

- convert: the CSV to Parquet with the engine's own type inference, zstd level 3, statistics, 16,384-row row
  groups, rows in the file's order (what preview needs), streaming where the engine can;
- profile: from that Parquet file, the same statistics for every engine: per column the null count and exact
  distinct count; for numbers min, max, mean, sample std, the 5/25/50/75/95% quantiles (linear interpolation)
  and a 20-bin equal-width histogram; for strings and booleans the 10 most frequent values (count descending,
  then value) and, for strings, min/max/mean length in characters; for dates and datetimes min and max; for the
  dataset the rows and the duplicate rows (counted on 64-bit row hashes by each engine, as the service does).

The three profiles are compared value by value (exact counts, floats to 1e-9 relative), so no engine wins by
doing less. `service` runs the service's own code (datasets.engine.formats.convert and datasets.engine.profile,
polars) for reference: its conversion checks every value's type over the whole file, and its profile computes
more (histograms of dates and string lengths, zeros, negatives, memory size), so it is not one of the candidates.
Median of the rounds, engines interleaved (each goes first once), wall and CPU seconds (the CPU seconds hold up on a
busy shared machine, the wall times do not); writes bench/results/datasets_engines.json.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_results  # noqa: E402
from bench.datasets import DATA_DIR, MiB, _cpu_pressure, dataset_csv  # noqa: E402

CANDIDATES = ("polars", "duckdb", "pyarrow")
ENGINES = (*CANDIDATES, "service")
ROW_GROUP_ROWS = 16_384
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BINS = 20
TOP = 10


# --- in the child ---------------------------------------------------------------------------------------------


def _threads() -> int:
    return len(os.sched_getaffinity(0))


def _kind(name: str) -> str:
    """integer, float, string, boolean, date or datetime, from any engine's type name."""
    lowered = name.lower()
    for kind, marks in (
        ("datetime", ("timestamp", "datetime")),
        ("date", ("date",)),
        ("boolean", ("bool",)),
        ("float", ("float", "double", "decimal")),
        ("integer", ("int",)),
    ):
        if any(mark in lowered for mark in marks):
            return kind
    return "string"


def _edges(low: float, high: float) -> list[float]:
    """The BINS - 1 inner edges of BINS equal bins over [low, high] (bin k holds [edge k, edge k+1), the last
    one closed). Every engine counts the values below each edge, so no engine's float rounding of
    (x - low) / width moves a value across an edge."""
    width = (high - low) / BINS
    return [low + k * width for k in range(1, BINS)]


def _histogram(below: list[int], total: int) -> list[int]:
    """Bin counts from the counts of values below each inner edge, and the count of all values."""
    bounds = [0, *below, total]
    return [bounds[k + 1] - bounds[k] for k in range(BINS)]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# polars


def polars_convert(src: str, dst: str) -> None:
    """Types inferred on the first 10,000 rows; dates and datetimes found on a sample and parsed with an explicit
    format (scan_csv(try_parse_dates=True) tries formats value by value: 6.0 s instead of 3.4 s here)."""
    import polars as pl

    frame = pl.scan_csv(src, infer_schema_length=10_000)
    sample = frame.head(1_000).collect()
    parses = []
    for name, dtype in sample.schema.items():
        if dtype != pl.String:
            continue
        for parse in (
            lambda c: c.str.to_date("%Y-%m-%d"),
            lambda c: c.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us"),
        ):
            try:
                sample.select(parse(pl.col(name)))
            except pl.exceptions.PolarsError:
                continue
            parses.append(parse(pl.col(name)).alias(name))
            break
    frame.with_columns(parses).sink_parquet(
        dst, compression="zstd", compression_level=3, statistics=True, row_group_size=ROW_GROUP_ROWS
    )


def polars_profile(path: str) -> dict[str, Any]:
    import polars as pl

    frame = pl.scan_parquet(path)
    schema = frame.collect_schema()
    kinds = {name: _kind(str(dtype)) for name, dtype in schema.items()}
    expressions = [pl.len().alias("rows"), pl.struct(pl.all()).hash().n_unique().alias("distinct_rows")]
    for index, (name, kind) in enumerate(kinds.items()):
        column = pl.col(name)
        expressions += [
            column.null_count().alias(f"{index}|nulls"),
            column.drop_nulls().n_unique().alias(f"{index}|distinct"),
        ]
        if kind in ("integer", "float"):
            number = column.cast(pl.Float64)
            expressions += [
                column.min().alias(f"{index}|min"),
                column.max().alias(f"{index}|max"),
                number.mean().alias(f"{index}|mean"),
                number.std().alias(f"{index}|std"),
                # One sort for the five quantiles (five quantile() calls would sort five times).
                number.quantile(list(QUANTILES), "linear").alias(f"{index}|quantiles"),
            ]
        elif kind in ("date", "datetime"):
            expressions += [column.min().alias(f"{index}|min"), column.max().alias(f"{index}|max")]
        elif kind == "string":
            length = column.str.len_chars()
            expressions += [
                length.min().alias(f"{index}|len_min"),
                length.max().alias(f"{index}|len_max"),
                length.mean().alias(f"{index}|len_mean"),
            ]
    first = frame.select(expressions).collect(engine="streaming").row(0, named=True)
    columns = _columns_from_flat(first, kinds)
    histograms = []
    for index, (name, kind) in enumerate(kinds.items()):
        if kind in ("integer", "float") and columns[name]["min"] is not None:
            edges = _edges(columns[name]["min"], columns[name]["max"])
            histograms += [(pl.col(name) < edge).sum().alias(f"{index}|{k}") for k, edge in enumerate(edges)]
            histograms.append(pl.col(name).count().alias(f"{index}|all"))
    counts = frame.select(histograms).collect(engine="streaming").row(0, named=True) if histograms else {}
    for index, (name, kind) in enumerate(kinds.items()):
        if kind in ("integer", "float") and columns[name]["min"] is not None:
            below = [int(counts[f"{index}|{k}"]) for k in range(BINS - 1)]
            columns[name]["histogram"] = _histogram(below, int(counts[f"{index}|all"]))
        if kind in ("string", "boolean"):
            top = (
                frame.select(pl.col(name).alias("value"))
                .drop_nulls()
                .group_by("value")
                .agg(pl.len().alias("count"))
                .sort(["count", "value"], descending=[True, False])
                .head(TOP)
                .collect(engine="streaming")
            )
            columns[name]["top"] = [[_jsonable(v), int(c)] for v, c in top.iter_rows()]
    return {"rows": first["rows"], "duplicate_rows": first["rows"] - first["distinct_rows"], "columns": columns}


def _columns_from_flat(flat: dict[str, Any], kinds: dict[str, str]) -> dict[str, dict[str, Any]]:
    names = list(kinds)
    columns: dict[str, dict[str, Any]] = {name: {"kind": kind} for name, kind in kinds.items()}
    for key, value in flat.items():
        if "|" not in key:
            continue
        index, stat = key.split("|", 1)
        column = columns[names[int(index)]]
        column[stat] = [_jsonable(item) for item in value] if isinstance(value, list) else _jsonable(value)
    return columns


# DuckDB


def _duckdb() -> Any:
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"SET threads = {_threads()}")
    return connection


def duckdb_convert(src: str, dst: str) -> None:
    connection = _duckdb()
    connection.execute(
        f"COPY (SELECT * FROM read_csv('{src}', header = true)) TO '{dst}' "
        f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    )


def duckdb_profile(path: str) -> dict[str, Any]:
    connection = _duckdb()
    connection.execute(f"CREATE VIEW data AS SELECT * FROM read_parquet('{path}')")
    described = connection.execute("DESCRIBE data").fetchall()
    kinds = {row[0]: _kind(row[1]) for row in described}

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    selects = ["count(*) AS rows", f"count(DISTINCT hash({', '.join(quoted(n) for n in kinds)})) AS distinct_rows"]
    for index, (name, kind) in enumerate(kinds.items()):
        column = quoted(name)
        selects += [f'count(*) - count({column}) AS "{index}|nulls"', f'count(DISTINCT {column}) AS "{index}|distinct"']
        if kind in ("integer", "float"):
            quantiles = ", ".join(str(q) for q in QUANTILES)
            selects += [
                f'min({column}) AS "{index}|min"',
                f'max({column}) AS "{index}|max"',
                f'avg({column}::DOUBLE) AS "{index}|mean"',
                f'stddev_samp({column}::DOUBLE) AS "{index}|std"',
                f'quantile_cont({column}::DOUBLE, [{quantiles}]) AS "{index}|quantiles"',
            ]
        elif kind in ("date", "datetime"):
            selects += [f'min({column}) AS "{index}|min"', f'max({column}) AS "{index}|max"']
        elif kind == "string":
            selects += [
                f'min(length({column})) AS "{index}|len_min"',
                f'max(length({column})) AS "{index}|len_max"',
                f'avg(length({column})) AS "{index}|len_mean"',
            ]
    cursor = connection.execute(f"SELECT {', '.join(selects)} FROM data")
    first = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    columns = _columns_from_flat(first, kinds)
    histograms = []
    for index, (name, kind) in enumerate(kinds.items()):
        if kind in ("integer", "float") and columns[name]["min"] is not None:
            edges = _edges(columns[name]["min"], columns[name]["max"])
            histograms += [f'count_if({quoted(name)} < {edge!r}) AS "{index}|{k}"' for k, edge in enumerate(edges)]
            histograms.append(f'count({quoted(name)}) AS "{index}|all"')
    if histograms:
        cursor = connection.execute(f"SELECT {', '.join(histograms)} FROM data")
        counts = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        for index, (name, kind) in enumerate(kinds.items()):
            if kind in ("integer", "float") and columns[name]["min"] is not None:
                below = [int(counts[f"{index}|{k}"]) for k in range(BINS - 1)]
                columns[name]["histogram"] = _histogram(below, int(counts[f"{index}|all"]))
    for name, kind in kinds.items():
        if kind in ("string", "boolean"):
            rows = connection.execute(
                f"SELECT {quoted(name)} AS value, count(*) AS n FROM data WHERE {quoted(name)} IS NOT NULL "
                f"GROUP BY value ORDER BY n DESC, value ASC LIMIT {TOP}"
            ).fetchall()
            columns[name]["top"] = [[_jsonable(v), int(c)] for v, c in rows]
    return {"rows": first["rows"], "duplicate_rows": first["rows"] - first["distinct_rows"], "columns": columns}


# pyarrow


def pyarrow_convert(src: str, dst: str) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pa.set_cpu_count(_threads())
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(block_size=8 * MiB),
        # An empty field is a null in every column, as polars, DuckDB and pandas read it.
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )
    pending: list[pa.RecordBatch] = []
    buffered = 0
    with pq.ParquetWriter(dst, reader.schema, compression="zstd", compression_level=3) as writer:
        for batch in reader:
            pending.append(batch)
            buffered += batch.num_rows
            if buffered >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending)
                whole = (buffered // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
                writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
                rest = table.slice(whole)
                pending, buffered = rest.to_batches(), rest.num_rows
        if buffered:
            writer.write_table(pa.Table.from_batches(pending, schema=reader.schema), row_group_size=ROW_GROUP_ROWS)


def pyarrow_profile(path: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pa.set_cpu_count(_threads())
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    rows = parquet.metadata.num_rows
    columns: dict[str, dict[str, Any]] = {}
    row_hash = pa.array([0] * rows, pa.uint64()) if rows else None
    prime = pa.scalar(1_099_511_628_211, pa.uint64())  # FNV-1a's 64-bit prime
    for field in schema:
        values = parquet.read(columns=[field.name], use_threads=True).column(0).combine_chunks()
        kind = _kind(str(field.type))
        column: dict[str, Any] = {
            "kind": kind,
            "nulls": values.null_count,
        }
        # -0.0 and 0.0 are one value (pyarrow's hashing tells them apart; polars and DuckDB do not).
        distinct_of = pc.add(values, 0.0) if kind == "float" else values
        column["distinct"] = pc.count_distinct(distinct_of, mode="only_valid").as_py()
        # One column at a time into the row hashes: its dictionary codes, FNV-1a style.
        codes = pc.fill_null(pc.add(pc.dictionary_encode(values).indices.cast(pa.int64()), 1), 0).cast(pa.uint64())
        row_hash = pc.multiply(pc.bit_wise_xor(row_hash, codes), prime)
        if kind in ("integer", "float"):
            number = values.cast(pa.float64())
            extremes = pc.min_max(values)
            column.update(
                min=extremes["min"].as_py(),
                max=extremes["max"].as_py(),
                mean=pc.mean(number).as_py(),
                std=pc.stddev(number, ddof=1).as_py(),
                quantiles=pc.quantile(number, q=list(QUANTILES), interpolation="linear").to_pylist(),
            )
            if column["min"] is not None:
                below = [pc.sum(pc.less(values, edge)).as_py() or 0 for edge in _edges(column["min"], column["max"])]
                column["histogram"] = _histogram(below, len(values) - values.null_count)
        elif kind in ("date", "datetime"):
            extremes = pc.min_max(values)
            column.update(min=_jsonable(extremes["min"].as_py()), max=_jsonable(extremes["max"].as_py()))
        if kind == "string":
            length = pc.utf8_length(values)
            extremes = pc.min_max(length)
            column.update(
                len_min=extremes["min"].as_py(), len_max=extremes["max"].as_py(), len_mean=pc.mean(length).as_py()
            )
        if kind in ("string", "boolean"):
            counted = pc.value_counts(values.drop_null()).flatten()
            table = pa.table({"value": counted[0], "count": counted[1]})
            top = table.sort_by([("count", "descending"), ("value", "ascending")]).slice(0, TOP)
            column["top"] = [[_jsonable(v), int(c)] for v, c in zip(*top.to_pydict().values(), strict=True)]
        columns[field.name] = column
        del values, codes
    distinct_rows = pc.count_distinct(row_hash).as_py() if rows else 0
    return {"rows": rows, "duplicate_rows": rows - distinct_rows, "columns": columns}


# the service's own engine


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
    import django

    django.setup()


def service_convert(src: str, dst: str) -> None:
    _django()
    from datasets.engine import formats

    formats.convert(src, formats.detect(src, os.path.basename(src)), dst)


def service_profile(path: str) -> dict[str, Any]:
    _django()
    from datasets.engine import profile

    result = profile.profile(path)
    columns = {
        column["name"]: {
            "kind": column["type"],
            "nulls": column["null_count"],
            "distinct": column.get("distinct_count"),
            **{key: column.get(key) for key in ("min", "max", "mean", "std") if key in column},
        }
        for column in result["column_profiles"]
    }
    return {"rows": result["rows"], "duplicate_rows": result["duplicate_rows"], "columns": columns}


def _rss(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def child(engine: str, phase: str, src: str, dst: str) -> None:
    started = time.perf_counter()
    if engine == "polars":
        import polars  # noqa: F401
    elif engine == "duckdb":
        import duckdb  # noqa: F401
    elif engine == "pyarrow":
        import pyarrow.compute  # noqa: F401
    elif engine == "service":
        _django()
        from datasets.engine import formats, profile  # noqa: F401
    imported = time.perf_counter()
    base = _rss("VmRSS")
    cpu = time.process_time()
    work = globals()[f"{engine}_{phase}"]
    result = work(src, dst) if phase == "convert" else work(src)
    done = time.perf_counter()
    out: dict[str, Any] = {
        "seconds": done - imported,
        "cpu_seconds": time.process_time() - cpu,
        "import_seconds": imported - started,
        "peak_rss": _rss("VmHWM"),
        "base_rss": base,
    }
    if phase == "convert":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(dst).metadata
        out.update(
            parquet_bytes=os.path.getsize(dst),
            row_groups=meta.num_row_groups,
            rows=meta.num_rows,
            types={field.name: str(field.type) for field in pq.read_schema(dst)},
        )
    else:
        out["profile"] = result
    print(json.dumps(out, ensure_ascii=False, default=str))


# --- in the parent --------------------------------------------------------------------------------------------


def run_child(engine: str, phase: str, src: Path, dst: Path, cpus: str) -> dict[str, Any]:
    threads = str(len(cpus.split(",")))
    env = {**os.environ, "POLARS_MAX_THREADS": threads, "OMP_NUM_THREADS": threads}
    env.pop("BENCH_PINNED", None)
    command = [sys.executable, __file__, "--child", engine, phase, str(src), str(dst)]
    done = subprocess.run(["taskset", "-c", cpus, *command], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} {phase} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(profiles: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between the candidates' profiles (the first one is the reference)."""
    names = [name for name in CANDIDATES if name in profiles]
    if len(names) < 2:
        return []
    reference, problems = profiles[names[0]], []
    for other in names[1:]:
        theirs = profiles[other]
        for key in ("rows", "duplicate_rows"):
            if reference[key] != theirs[key]:
                problems.append(f"{other} {key}: {theirs[key]} vs {names[0]} {reference[key]}")
        for column, stats in reference["columns"].items():
            mine = theirs["columns"].get(column)
            if mine is None:
                problems.append(f"{other}: no column {column}")
                continue
            for key in sorted(set(stats) | set(mine)):
                if key == "histogram" and stats.get(key) and mine.get(key):
                    moved = sum(abs(a - b) for a, b in zip(stats[key], mine[key], strict=True)) // 2
                    if moved or sum(stats[key]) != sum(mine[key]):
                        problems.append(f"{other} {column} histogram: {moved} values in another bin")
                elif not _close(stats.get(key), mine.get(key)):
                    problems.append(f"{other} {column} {key}: {mine.get(key)!r} vs {names[0]} {stats.get(key)!r}")
    return problems


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--cpus", default="1", help="cores each engine is pinned to (taskset -c)")
    args = parser.parse_args()
    engines = [name for name in args.engines.split(",") if name in ENGINES]

    path = dataset_csv(args.rows, args.seed)
    size = path.stat().st_size
    work = DATA_DIR / "engines"
    work.mkdir(parents=True, exist_ok=True)
    print(f"file {path.name}: {size / MiB:.1f} MiB; cores {args.cpus}; engines {', '.join(engines)}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
    pressure, pressure_started = _cpu_pressure(), time.monotonic()
    profiles: dict[str, dict[str, Any]] = {}
    types: dict[str, dict[str, str]] = {}
    for number in range(1, args.rounds + 1):
        order = engines[number - 1 :] + engines[: number - 1]  # each engine goes first once
        for engine in order:
            target = work / f"{engine}.parquet"
            target.unlink(missing_ok=True)
            converted = run_child(engine, "convert", path, target, args.cpus)
            profiled = run_child(engine, "profile", target, target, args.cpus)
            profiles[engine] = profiled.pop("profile")
            types[engine] = converted.pop("types")
            run = {
                "convert_seconds": converted["seconds"],
                "profile_seconds": profiled["seconds"],
                "total_seconds": converted["seconds"] + profiled["seconds"],
                "convert_cpu_seconds": converted["cpu_seconds"],
                "profile_cpu_seconds": profiled["cpu_seconds"],
                "total_cpu_seconds": converted["cpu_seconds"] + profiled["cpu_seconds"],
                "convert_peak_rss": converted["peak_rss"],
                "profile_peak_rss": profiled["peak_rss"],
                "peak_rss": max(converted["peak_rss"], profiled["peak_rss"]),
                "import_seconds": converted["import_seconds"],
                "base_rss": converted["base_rss"],
                "parquet_bytes": converted["parquet_bytes"],
                "row_groups": converted["row_groups"],
                "rows": converted["rows"],
            }
            runs[engine].append(run)
            print(
                f"  round {number} {engine:<8} convert {run['convert_seconds']:6.2f} s "
                f"({run['convert_peak_rss'] / MiB:5.0f} MiB), profile {run['profile_seconds']:6.2f} s "
                f"({run['profile_peak_rss'] / MiB:5.0f} MiB)"
            )
            target.unlink(missing_ok=True)

    medians = {
        engine: {key: statistics.median(run[key] for run in engine_runs) for key in engine_runs[0]}
        for engine, engine_runs in runs.items()
    }
    problems = compare(profiles)
    kinds = {engine: {name: _kind(t) for name, t in engine_types.items()} for engine, engine_types in types.items()}
    waited = None
    if pressure is not None:
        waited = round((_cpu_pressure() - pressure) / 1e6 / (time.monotonic() - pressure_started), 3)
    print(f"--- median of {args.rounds}, {size / MiB:.1f} MiB CSV, {args.rows} rows, pinned to cores {args.cpus}")
    if waited is not None:
        print(f"CPU pressure during the rounds: some task waited for a CPU {waited:.0%} of the time (PSI)")
    header = (
        ("convert s", 10),
        ("profile s", 10),
        ("total s", 9),
        ("CPU s", 8),
        ("peak MiB", 10),
        ("peak/file", 10),
        ("base MiB", 10),
        ("parquet MiB", 12),
    )
    print(f"{'engine':<9}" + "".join(f"{title:>{width}}" for title, width in header))
    for engine, figures in medians.items():
        print(
            f"{engine:<9}{figures['convert_seconds']:10.2f}{figures['profile_seconds']:10.2f}"
            f"{figures['total_seconds']:9.2f}{figures['total_cpu_seconds']:8.2f}"
            f"{figures['peak_rss'] / MiB:10.0f}{figures['peak_rss'] / size:10.2f}"
            f"{figures['base_rss'] / MiB:10.0f}{figures['parquet_bytes'] / MiB:12.1f}"
        )
    for engine, engine_kinds in kinds.items():
        print(f"  {engine} column types: {', '.join(f'{n}={k}' for n, k in engine_kinds.items())}")
    if problems:
        print(f"statistics DIFFER between candidates ({len(problems)}):")
        for problem in problems[:40]:
            print(f"  {problem}")
    else:
        print("statistics agree between candidates: " + ", ".join(n for n in CANDIDATES if n in profiles))
    candidates = [e for e in CANDIDATES if e in medians]
    fastest = min(candidates, key=lambda e: medians[e]["total_seconds"]) if candidates else None
    leanest = min(candidates, key=lambda e: medians[e]["peak_rss"]) if candidates else None
    cheapest = min(candidates, key=lambda e: medians[e]["total_cpu_seconds"]) if candidates else None
    print(f"fastest candidate (convert + profile): {fastest}; fewest CPU seconds: {cheapest}; lowest peak: {leanest}")
    write_results(
        "datasets_engines",
        {
            "file": {"name": path.name, "bytes": size, "rows": args.rows, "columns": 20, "seed": args.seed},
            "cpus": args.cpus,
            "rounds": args.rounds,
            "cpu_pressure": waited,
            "versions": _versions(),
            "engines": medians,
            "column_kinds": kinds,
            "column_types": types,
            "statistics_differences": problems,
            "fastest": fastest,
            "fewest_cpu_seconds": cheapest,
            "lowest_peak": leanest,
            "runs": runs,
        },
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("polars", "duckdb", "pyarrow", "pandas", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


if __name__ == "__main__":
    main()
