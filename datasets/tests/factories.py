"""Datasets made the way the API makes them (services), with their conversion run as the worker would, and
the files the tests upload (every supported format) built in memory."""

import io
from pathlib import Path
from typing import Any

import polars as pl
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from datasets import services
from datasets.models import Dataset, DatasetVersion
from projects.models import Project

CSV = "城市,日期,AQI,等级\n北京,2026-01-01,52,良\n上海,2026-01-01,38,优\n广州,2026-01-02,,优\n".encode()


def upload(content: bytes = CSV, name: str = "空气质量.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def convert(dataset: Dataset, *, profile: bool = True) -> Dataset:
    """Runs what the worker runs for every processing version of the dataset: conversion, then the profile."""
    for version in DatasetVersion.objects.filter(dataset=dataset, status=DatasetVersion.Status.PROCESSING):
        if version.source == DatasetVersion.Source.PIPELINE:
            services.dataset_version_build(version_id=version.id)
        else:
            services.dataset_version_convert(version_id=version.id)
        if profile:
            services.dataset_version_profile(version_id=version.id)
    dataset.refresh_from_db()
    return dataset


def make_dataset(
    project: Project,
    actor: User,
    *,
    content: bytes | None = CSV,
    name: str = "空气质量",
    file_name: str = "空气质量.csv",
    profile: bool = True,
    **data: Any,
) -> Dataset:
    """A dataset, with version 1 converted (and profiled unless profile=False) when `content` is given."""
    file = upload(content, file_name) if content is not None else None
    dataset = services.dataset_create(project=project, actor=actor, data={"name": name, **data}, upload=file)
    return convert(dataset, profile=profile)


def stored_files(location: Path) -> list[str]:
    """Every file under a filesystem storage's location, as sorted relative paths (folders do not count)."""
    if not location.exists():
        return []
    return sorted(str(path.relative_to(location)) for path in location.rglob("*") if path.is_file())


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def xlsx_bytes(rows: list[list[Any]], *, other_sheet: list[list[Any]] | None = None) -> bytes:
    """An Excel workbook whose first sheet holds these rows (the first is the header), and a second sheet with
    `other_sheet` if given."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if other_sheet is not None:
        second = workbook.create_sheet("说明")
        for row in other_sheet:
            second.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
