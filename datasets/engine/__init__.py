"""The data engine of datasets: reading uploads, the canonical Parquet copy, preview, export, profiles and
preprocessing pipelines. Plain functions over local file paths, with no models, storage or HTTP: services
fetch files to local paths (datasets.storage), call these, and store what they write.

polars is the engine (chosen by measuring, see bench/datasets_engines.py); pyarrow reads Parquet row groups.

Modules and their entry points (each documented where it is defined):
- formats:  FORMATS, detect(path, file_name) -> Detected, check_sample(path, detected),
            convert(path, detected, dst_path) -> Converted
- rows:     read_rows(path, offset=, limit=, columns=) -> list[dict], json_safe(value)
- export:   write_csv(parquet_path, dst_path)
- profile:  profile(parquet_path, progress=None) -> dict
- pipeline: validate(steps, columns) -> list[dict], run(src_parquet, steps, dst_parquet) -> Converted
- errors:   UnsupportedFormat, ParseFailure, PipelineInvalid
- terms:    FORMATS, CONTENT_TYPES, TYPE_NAMES, Converted: what callers need without loading polars or pyarrow
- isolated: run(function, progress=, on_step=, **arguments): convert (and profile), profile, pipeline, export_csv
            in a process of its own, as Celery workers run them (the why is in its docstring)
"""
