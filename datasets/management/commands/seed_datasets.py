"""Add a few real-looking datasets (Chinese and English columns, several formats) to the sandbox's demo
projects, converted, profiled and one of them preprocessed (idempotent). seed_sandbox runs it."""

import csv
import io
import json
import random
from datetime import date, timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand

from accounts.models import User
from datasets import services
from datasets.models import Dataset
from projects.models import Project

PRODUCTS = ["无线耳机", "机械键盘", "智能手表", "空气净化器", "扫地机器人", "电动牙刷"]
REVIEWS = {
    5: ["非常好用，物超所值！", "音质很棒，续航也不错。", "Great value, works perfectly."],
    4: ["整体满意，包装有点简陋。", "Good, but shipping was slow."],
    3: ["一般般，和描述差不多。", "It's okay."],
    2: ["用了一周就有杂音。", "Battery drains too fast."],
    1: ["质量太差，已申请退货。", "Stopped working after two days."],
}
CITIES = ["北京", "上海", "广州", "深圳", "成都", "西安"]
DISTRICTS = ["Downtown", "Riverside", "Hillcrest", "Old Town", "Harbor"]


def _reviews(rng: random.Random) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["评论ID", "商品", "评分", "评论内容", "日期", "是否推荐", "点赞数"])
    start = date(2026, 1, 1)
    for index in range(600):
        stars = rng.choices([5, 4, 3, 2, 1], weights=[40, 25, 15, 10, 10])[0]
        text = rng.choice(REVIEWS[stars]) if rng.random() > 0.03 else ""
        likes = rng.randint(0, 300) if rng.random() > 0.05 else ""
        day = start + timedelta(days=rng.randint(0, 300))
        writer.writerow(
            [
                f"R{index + 1:05d}",
                rng.choice(PRODUCTS),
                stars,
                text,
                day.isoformat(),
                "是" if stars >= 4 else "否",
                likes,
            ]
        )
    return out.getvalue().encode("utf-8")


def _air_quality(rng: random.Random) -> bytes:
    """As Excel saves a CSV on a Chinese Windows: GB18030 (GBK), CRLF line ends."""
    lines = ["城市,日期,AQI,PM2.5,PM10,空气质量等级"]
    start = date(2025, 1, 1)
    for city in CITIES:
        base = rng.randint(40, 110)
        for day in range(180):
            aqi = max(10, int(rng.gauss(base, 25)))
            level = "优" if aqi <= 50 else "良" if aqi <= 100 else "轻度污染" if aqi <= 150 else "中度污染"
            pm25 = round(aqi * rng.uniform(0.5, 0.8), 1)
            lines.append(f"{city},{start + timedelta(days=day)},{aqi},{pm25},{round(pm25 * 1.6, 1)},{level}")
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def _houses(rng: random.Random) -> bytes:
    rows = []
    for index in range(400):
        area = round(rng.uniform(35, 220), 1)
        bedrooms = max(1, int(area // 40))
        district = rng.choice(DISTRICTS)
        year = rng.randint(1965, 2025)
        price = round(area * rng.uniform(2800, 6500) + (year - 1965) * 800, -2)
        rows.append(
            {
                "id": index + 1,
                "area_sqm": area,
                "bedrooms": bedrooms,
                "district": district,
                "year_built": year,
                "has_garden": rng.random() < 0.3,
                "price_usd": price if rng.random() > 0.02 else None,
            }
        )
    return "\n".join(json.dumps(row) for row in rows).encode("utf-8")


DATASETS: list[tuple[str, str, str, Any]] = [
    (
        "客户评论 Customer reviews",
        "电商平台商品评论与评分，含少量缺失值。Product reviews with star ratings.",
        "reviews.csv",
        _reviews,
    ),
    ("城市空气质量", "六个城市半年的每日空气质量（Excel 导出的 GBK 编码 CSV）。", "空气质量.csv", _air_quality),
    (
        "House prices",
        "Sale prices of 400 homes with their area, rooms and district (JSON Lines).",
        "houses.jsonl",
        _houses,
    ),
]


class Command(BaseCommand):
    help = "Add example datasets to the sandbox's demo projects (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        from incubator.celery import app

        # No worker runs beside a management command: conversion, profile and export run inline, after commit.
        app.conf.task_always_eager = True
        rng = random.Random(2026)
        demo = User.objects.filter(username="demo").first()
        # Public demo projects whose topic fits the data (the traffic one is owned by `demo`).
        topics = ["[示例] 电商个性化推荐", "[示例] 城市交通流量预测", "[示例] 金融风控反欺诈"]
        projects = [Project.objects.filter(name__startswith=topic).order_by("id").first() for topic in topics]
        if demo is None or None in projects:
            self.stdout.write("No demo projects: run seed_sandbox first.")
            return
        made = 0
        for project, (name, description, file_name, make) in zip(projects, DATASETS, strict=True):
            if Dataset.objects.filter(project=project, name=name).exists():
                continue
            upload = SimpleUploadedFile(file_name, make(rng))
            dataset = services.dataset_create(
                project=project, actor=project.owner, data={"name": name, "description": description}, upload=upload
            )
            made += 1
            if file_name == "reviews.csv":
                version = dataset.versions.get(number=1)
                services.dataset_version_preprocess(
                    version=version,
                    actor=project.owner,
                    steps=[
                        {"type": "drop_na", "columns": ["评论内容"]},
                        {"type": "fill_na", "columns": ["点赞数"], "strategy": "median"},
                        {"type": "label_encode", "columns": ["商品"]},
                        {"type": "train_test_split", "test_ratio": 0.2, "seed": 42, "stratify": "评分"},
                    ],
                )
        self.stdout.write(f"  {made} example datasets added ({Dataset.objects.count()} in all)")
