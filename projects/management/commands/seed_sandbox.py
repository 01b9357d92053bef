"""Fill the database with realistic example data in Chinese and English (idempotent).

manage.py seed_sandbox               ~20 users, 60 projects, members and applications
manage.py seed_sandbox --size large  adds 100,000 projects for benchmarks (bulk inserts)
"""

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.utils import timezone

from accounts.models import User
from projects import services
from projects.models import Membership, Project, ProjectTag, Tag

PASSWORD = "Incubator-2026"
TAGS = [
    "机器学习",
    "自然语言处理",
    "计算机视觉",
    "深度学习",
    "强化学习",
    "推荐系统",
    "语音识别",
    "知识图谱",
    "大语言模型",
    "数据挖掘",
    "Machine Learning",
    "NLP",
    "Computer Vision",
    "MLOps",
    "Edge AI",
    "医疗AI",
]
TOPICS = [
    ("智能客服对话系统", "基于大语言模型的多轮对话客服，支持中文和英文，接入企业知识库。"),
    ("医学影像辅助诊断", "使用卷积神经网络识别肺部 CT 影像中的结节，帮助医生提高诊断效率。"),
    ("Crop disease detection", "Mobile computer vision that spots crop diseases from leaf photos in the field."),
    ("城市交通流量预测", "融合图神经网络与时间序列模型，预测城市主干道未来一小时的交通流量。"),
    ("Speech-to-text for dialects", "An ASR model fine-tuned on Cantonese and Sichuanese speech recordings."),
    ("电商个性化推荐", "基于用户行为序列的深度推荐模型，提升点击率和转化率。"),
    ("Legal document summarizer", "Summarizes long contracts and highlights risky clauses with an LLM."),
    ("工业缺陷检测", "在生产线上实时检测金属表面的划痕与凹陷，支持边缘设备部署。"),
    ("Wildlife camera-trap classifier", "Classifies species in camera-trap images to support conservation work."),
    ("金融风控反欺诈", "利用图挖掘与梯度提升树识别信用卡欺诈交易。"),
    ("古籍文字识别", "对繁体竖排古籍进行 OCR 识别与断句，建设可检索的数字化语料库。"),
    ("Reinforcement learning for HVAC", "Cuts building energy use with an RL agent that controls heating and cooling."),
]
USERS = [
    ("admin", "平台管理员", "admin", True),
    ("mentor_zhang", "张老师", "mentor", False),
    ("mentor_li", "李导师", "mentor", False),
    ("mentor_emma", "Emma Wilson", "mentor", False),
    ("demo", "演示用户", "member", False),
    ("wangfang", "王芳", "member", False),
    ("liuyang", "刘洋", "member", False),
    ("chenjing", "陈静", "member", False),
    ("zhaolei", "赵磊", "member", False),
    ("sunli", "孙丽", "member", False),
    ("zhouqiang", "周强", "member", False),
    ("wuxia", "吴霞", "member", False),
    ("zhengkai", "郑凯", "member", False),
    ("alice", "Alice Chen", "member", False),
    ("bob", "Bob Martin", "member", False),
    ("carol", "Carol Nguyen", "member", False),
    ("david", "David Kim", "member", False),
    ("erin", "Erin Walsh", "member", False),
    ("frank", "Frank Müller", "member", False),
    ("grace", "Grace Ho", "member", False),
]
STATUSES = ["recruiting", "in_progress", "completed"]


class Command(BaseCommand):
    help = "Fill an empty database with realistic sandbox data (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--size", choices=["small", "large"], default="small")
        parser.add_argument("--large-count", type=int, default=100_000, help="projects made by --size large")

    def handle(self, *args: Any, size: str, large_count: int, **options: Any) -> None:
        rng = random.Random(2026)
        users = self._users()
        if not Project.objects.filter(name__startswith="[示例]").exists():
            self._projects(users, rng)
        if size == "large":
            self._large(users, rng, large_count)
        # Datasets live in their own app, which depends on this one: called by name, not imported.
        call_command("seed_datasets", stdout=self.stdout)
        call_command("seed_models", stdout=self.stdout)
        call_command("seed_schemas", stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Sandbox ready: {User.objects.count()} users, {Project.objects.count()} projects.")
        )
        self.stdout.write(f"  Demo logins (password {PASSWORD}): demo (member), mentor_zhang (mentor), admin (admin)")

    def _users(self) -> list[User]:
        users = []
        hashed = make_password(PASSWORD)  # hash once: PBKDF2 per user would make the seed slow
        for username, display_name, role, staff in USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@incubator.example",
                    "display_name": display_name,
                    "role": "member" if role == "admin" else role,
                    "is_staff": staff,
                    "is_superuser": staff,
                    "locale": "en" if display_name.isascii() else "zh-hans",
                },
            )
            if created:
                user.password = hashed
                user.save(update_fields=["password"])
            users.append(user)
        return users

    @transaction.atomic
    def _projects(self, users: list[User], rng: random.Random) -> None:
        members = users[1:]
        for index in range(60):
            title, description = TOPICS[index % len(TOPICS)]
            owner = members[index % len(members)]
            project = services.project_create(
                owner=owner,
                data={
                    "name": f"[示例] {title} #{index + 1}",
                    "description": f"{description}\n\n## 目标 / Goals\n- 可复现的训练流程\n- 开放的评测基准",
                    "video_url": f"https://videos.incubator.example/demo-{index + 1}.mp4" if index % 3 else "",
                    "status": STATUSES[index % 3],
                    "visibility": "private" if index % 7 == 0 else "public",
                    "tags": rng.sample(TAGS, rng.randint(1, 4)),
                },
            )
            others = [u for u in members if u != owner]
            for member in rng.sample(others, rng.randint(0, 4)):
                role = rng.choice(["member", "member", "maintainer", "mentor"])
                services.member_add(project=project, actor=owner, user_id=member.id, role=role)
            if project.status == "recruiting":
                outsiders = [u for u in others if not Membership.objects.filter(project=project, user=u).exists()]
                for applicant in rng.sample(outsiders, min(3, len(outsiders))):
                    application = services.application_submit(
                        project=project, applicant=applicant, message="我对这个项目很感兴趣，希望加入！"
                    )
                    decision = rng.choice(["pending", "pending", "approved", "rejected"])
                    if decision == "approved":
                        services.application_approve(application=application, actor=owner)
                    elif decision == "rejected":
                        services.application_reject(
                            application=application, actor=owner, reason="名额已满 / Team is full"
                        )
            back = timezone.now() - timedelta(days=rng.randint(0, 365), hours=rng.randint(0, 23))
            Project.objects.filter(pk=project.pk).update(created_at=back, updated_at=back)

    def _large(self, users: list[User], rng: random.Random, count: int) -> None:
        """Bulk inserts, bypassing per-row services (no events): benchmark data only."""
        existing = Project.objects.filter(name__startswith="[bench]").count()
        missing = count - existing
        if missing <= 0:
            return
        tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
        tags = [Tag.objects.get(name__iexact=t.name) for t in tags]
        now = timezone.now()
        batch = 5000
        for start in range(existing, count, batch):
            with transaction.atomic():
                rows, chosen = [], []
                for index in range(start, min(start + batch, count)):
                    title, description = TOPICS[index % len(TOPICS)]
                    picked = rng.sample(tags, rng.randint(1, 4))
                    name = f"[bench] {title} {index}"
                    names = [t.name for t in picked]
                    rows.append(
                        Project(
                            name=name,
                            description=description,
                            status=STATUSES[index % 3],
                            visibility="private" if index % 10 == 0 else "public",
                            owner=users[1 + index % 19],
                            tags=names,
                            member_count=1,
                            search_text=" ".join(f"{name} {' '.join(names)} {description}".split()).casefold(),
                        )
                    )
                    chosen.append(picked)
                created = Project.objects.bulk_create(rows, batch_size=batch)
                # Spread creation times over the past (one statement per batch, not a row-by-row update).
                spread = ExpressionWrapper(
                    Value(now) - F("id") * Value(timedelta(seconds=97)), output_field=DateTimeField()
                )
                Project.objects.filter(pk__in=[p.pk for p in created]).update(created_at=spread, updated_at=spread)
                Membership.objects.bulk_create(
                    [Membership(project=p, user_id=p.owner_id, role="owner") for p in created], batch_size=batch
                )
                ProjectTag.objects.bulk_create(
                    [ProjectTag(project=p, tag=t) for p, picked in zip(created, chosen, strict=True) for t in picked],
                    batch_size=batch,
                )
            self.stdout.write(f"  {min(start + batch, count)}/{count} benchmark projects")
        services.public_memberships_rebuild()  # the owners' memberships above were bulk-created
        services._invalidate_list_counts()
        with connection.cursor() as cursor:  # fresh planner statistics, or bulk-loaded tables get bad plans
            cursor.execute("ANALYZE")
