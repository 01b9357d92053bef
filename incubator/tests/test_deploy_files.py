"""The monitoring files (deploy/): the Grafana dashboard and the Prometheus alerts use only metrics the service
exports (incubator.metrics.METRIC_NAMES), and show all of them; every panel has an id of its own and the
Prometheus data source; docker-compose's `monitoring` profile mounts exactly these files and scrapes the
services where they serve their metrics."""

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "incubator.json"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
GRAFANA_DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "incubator.yml"
COMPOSE = ROOT / "docker-compose.yml"

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
METRIC = re.compile(r"\bincubator_[a-z0-9_]+\b")
# A family's samples: a counter's _total, a histogram's _bucket/_sum/_count (prometheus-client's naming).
SAMPLE_SUFFIX = re.compile(r"_(total|bucket|sum|count|created)$")


def _load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _dashboard_expressions(dashboard: dict) -> list[str]:
    expressions = [target["expr"] for panel in _panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        expressions.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return expressions


def _alert_rules() -> list[dict]:
    return [rule for group in _load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def _families(expressions: list[str]) -> set[str]:
    return {SAMPLE_SUFFIX.sub("", name) for expression in expressions for name in METRIC.findall(expression)}


def _known_families() -> set[str]:
    try:
        metrics = importlib.import_module("incubator.metrics")
    except ImportError as exc:
        pytest.skip(f"incubator.metrics cannot be imported ({exc}): no list of exported metrics to check against")
    names = metrics.METRIC_NAMES  # an AttributeError here is a failure: the module must say what it exports
    assert names and all(isinstance(name, str) for name in names), names
    return {SAMPLE_SUFFIX.sub("", name) for name in names}


def test_the_dashboard_and_the_alerts_use_only_exported_metrics():
    known = _known_families()
    used = _families(_dashboard_expressions(_dashboard()) + [rule["expr"] for rule in _alert_rules()])
    assert used - known == set(), f"not exported by incubator.metrics: {sorted(used - known)}"


def test_every_exported_metric_is_on_the_dashboard():
    known = {name for name in _known_families() if name.startswith("incubator_")}
    shown = _families(_dashboard_expressions(_dashboard()))
    assert known - shown == set(), f"exported but on no panel: {sorted(known - shown)}"


def test_every_panel_has_an_id_of_its_own_the_data_source_and_a_place():
    dashboard = _dashboard()
    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    # The provisioned data source is the variable's default, so a fresh Grafana shows data without a click.
    provisioned = _load_yaml(GRAFANA_DATASOURCES)["datasources"]
    assert variables["DS_PROMETHEUS"]["current"]["value"] in {source["uid"] for source in provisioned}

    boxes = []
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        boxes.append((grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"], panel["title"]))
        if panel["type"] == "row":
            continue
        assert panel.get("title"), panel["id"]
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, (panel["title"], target["refId"])
            assert target["expr"].strip(), (panel["title"], target["refId"])
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for i, (x1, y1, x2, y2, title) in enumerate(boxes):
        for a1, b1, a2, b2, other in boxes[i + 1 :]:
            assert x2 <= a1 or a2 <= x1 or y2 <= b1 or b2 <= y1, f"{title!r} overlaps {other!r}"


def test_latency_panels_take_quantiles_of_the_rate_of_buckets_by_route():
    expressions = " ".join(_dashboard_expressions(_dashboard()))
    for quantile in ("0.5", "0.95", "0.99"):
        pattern = (
            rf"histogram_quantile\({quantile}, sum by \(le, route\) \(rate\(incubator_http_request_duration_seconds"
            r"_bucket[^)]*\[\$__rate_interval\]\)\)\)"
        )
        assert re.search(pattern, expressions), quantile
    tables = [panel for panel in _panels(_dashboard()) if panel["type"] == "table"]
    assert any("topk(" in target["expr"] for table in tables for target in table["targets"]), "slowest routes table"


def test_prometheus_scrapes_the_web_with_a_token_and_the_workers_on_their_port():
    config = _load_yaml(PROMETHEUS)
    compose = _load_yaml(COMPOSE)
    services = compose["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    web = jobs["incubator-web"]
    assert web["metrics_path"] == "/metrics"
    assert web["authorization"]["type"] == "Bearer" and web["authorization"]["credentials_file"]
    # Scraped by a host name Django accepts (ALLOWED_HOSTS), on the port the web serves.
    [web_targets] = web["static_configs"]
    allowed = services["web"]["environment"]["ALLOWED_HOSTS"].split(",")
    for target in web_targets["targets"]:
        host, port = target.rsplit(":", 1)
        assert host in services and host in allowed, target
        assert any(mapping.endswith(f":{port}") for mapping in services[host]["ports"]), target

    celery = jobs["incubator-celery"]
    [celery_sd] = celery["dns_sd_configs"]
    for name in celery_sd["names"]:
        environment = services[name]["environment"]
        assert environment["CELERY_METRICS_PORT"] == str(celery_sd["port"]), name
        assert environment["CELERY_METRICS_ADDR"] == "0.0.0.0", name  # reachable from the Prometheus container
        assert "-Q" in services[name]["command"], name
    assert {"worker", "trainer"} <= set(celery_sd["names"])

    assert config["global"]["scrape_interval"] in {"10s", "15s", "30s"}
    assert set(config["rule_files"]) == {"/etc/prometheus/alerts.yml"}
    assert {rule["alert"] for rule in _alert_rules()} >= {
        "IncubatorHigh5xxRatio",
        "IncubatorSlowRequestsP95",
        "IncubatorQueueBacklog",
        "IncubatorTrainingJobsStuckRunning",
        "IncubatorCeleryWorkerDown",
    }


def test_the_monitoring_profile_mounts_these_files():
    compose = _load_yaml(COMPOSE)
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    # Everything else still starts with a plain `docker compose up`.
    assert [name for name, service in services.items() if "profiles" in service] == ["prometheus", "grafana"]

    def mounts(service: dict) -> dict[str, str]:
        found = {}
        for volume in service["volumes"]:
            source, target, *mode = volume.split(":")
            if source.startswith("./"):
                assert mode == ["ro"], volume
                assert (ROOT / source).exists(), volume
                found[target] = source
        return found

    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    prometheus_mounts = mounts(prometheus)
    config_file = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    assert prometheus_mounts[config_file] == "./deploy/prometheus.yml"
    config = _load_yaml(PROMETHEUS)
    for rule_file in config["rule_files"]:
        assert prometheus_mounts[rule_file] == "./deploy/prometheus/alerts.yml"

    # The token Prometheus sends is the one the web expects, default included.
    token_file = next(job for job in config["scrape_configs"] if job["job_name"] == "incubator-web")["authorization"]
    [token_config] = [c for c in prometheus["configs"] if c["target"] == token_file["credentials_file"]]
    assert compose["configs"][token_config["source"]]["content"] == services["web"]["environment"]["METRICS_TOKEN"]
    assert services["web"]["environment"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:-")

    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    grafana_mounts = mounts(grafana)
    assert grafana_mounts["/etc/grafana/provisioning/datasources"] == "./deploy/grafana/provisioning/datasources"
    assert grafana_mounts["/etc/grafana/provisioning/dashboards"] == "./deploy/grafana/provisioning/dashboards"
    [provider] = _load_yaml(GRAFANA_DASHBOARDS)["providers"]
    dashboard_target = next(target for target, source in grafana_mounts.items() if source.endswith("incubator.json"))
    assert grafana_mounts[dashboard_target] == "./deploy/grafana/incubator.json"
    assert Path(dashboard_target).parent == Path(provider["options"]["path"])
    [datasource] = _load_yaml(GRAFANA_DATASOURCES)["datasources"]
    assert datasource["url"] == "http://prometheus:9090"

    # Metrics of a container's processes meet in a tmpfs: every process that serves or works has one.
    for name in ("web", "worker", "trainer"):
        service = services[name]
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in service["tmpfs"], name


def test_promtool_accepts_the_config_the_rules_and_every_panel_query(tmp_path):
    if not shutil.which("promtool"):
        # .ci/run installs it and sets REQUIRE_PROMTOOL=1, so there the check cannot quietly turn itself off.
        if os.environ.get("REQUIRE_PROMTOOL") == "1":
            pytest.fail("REQUIRE_PROMTOOL=1 but promtool is not installed (apt-get install prometheus)")
        pytest.skip("promtool is not installed (Debian package prometheus)")

    def promtool(*args: str | Path) -> None:
        done = subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    promtool("check", "config", "--syntax-only", PROMETHEUS)
    promtool("check", "rules", ALERTS)
    # Each panel query, with Grafana's variables filled in, as a recording rule: promtool parses it as PromQL.
    substitutions = {"$__rate_interval": "1m", "$__range": "1h", "$route": ".*"}
    rules = []
    for panel in _panels(_dashboard()):
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in substitutions.items():
                expression = expression.replace(variable, value)
            rules.append({"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": expression})
    (tmp_path / "panels.yml").write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    promtool("check", "rules", tmp_path / "panels.yml")


def test_the_deploy_stage_migrates_then_runs_document_migrations_then_switches_and_can_roll_back():
    pipeline = _load_yaml(ROOT / ".gitlab-ci.yml")
    migrate = pipeline["deploy:migrate"]["script"]
    steps = [
        next(i for i, line in enumerate(migrate) if "manage.py migrate --no-input" in line),
        next(i for i, line in enumerate(migrate) if "manage.py migrate_documents --pending" in line),
    ]
    assert steps == sorted(steps)
    switch = pipeline["deploy:switch"]
    assert switch["needs"] == ["deploy:migrate"]
    assert any('"$DEPLOY_SWITCH_COMMAND"' in line for line in switch["script"])
    rollback = pipeline["rollback"]
    assert rollback["rules"][0]["when"] == "manual"
    assert any("ROLLBACK_IMAGE" in line and "DEPLOY_SWITCH_COMMAND" in line for line in rollback["script"])
    assert pipeline["rollback:migrations"]["rules"][0]["when"] == "manual"
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for job in ("deploy:migrate", "deploy:switch", "rollback", "rollback:migrations"):
        assert f"`{job}`" in guide, job
    for variable in ("DEPLOY_SWITCH_COMMAND", "DEPLOY_READY_URL", "DEPLOY_TOOLS_IMAGE", "ROLLBACK_IMAGE"):
        assert variable in guide, variable
