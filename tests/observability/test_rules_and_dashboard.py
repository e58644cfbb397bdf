"""The shipped Prometheus rules, config and Grafana files: promtool checks and rule unit
tests, a dashboard JSON that is exactly what its generator makes, queries that name only
metrics the exporter has, and provisioning that points at both."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from hil_service.metrics_export import exposition
from tests.service.test_report import sample_run

from .conftest import DASHBOARDS, tool

PROMETHEUS = DASHBOARDS / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120,
                          cwd=PROMETHEUS)


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    # the unit tests can fail: an alert that fires on any regression (latency too) breaks them
    rules = (PROMETHEUS / "alerts.yml").read_text()
    assert 'metric=~"accuracy|accuracy_gain|final_accuracy"' in rules
    (tmp_path / "alerts.yml").write_text(rules.replace('metric=~"accuracy|accuracy_gain|final_accuracy"',
                                                       'metric=~".+"'))
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = subprocess.run([tool("promtool"), "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "HilAccuracyRegression" in result.stdout + result.stderr


def test_promtool_check_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_json_is_what_the_generator_makes() -> None:
    result = subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_dashboard_queries_name_exported_metrics(tmp_path: Path) -> None:
    data = json.loads((DASHBOARDS / "grafana" / "hil-service.json").read_text())
    exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in data["templating"]["list"]]
    used = {name for e in exprs for name in re.findall(r"\bhil_[a-z0-9_]+", e)}
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    night = sample_run()
    night["regressions"] = [{"strategy": "tinyprop", "device": "qemu-an386", "metric": "accuracy",
                             "direction": "lower"}]
    night["skipped_devices"] = [{"device": "nrf5340dk-1", "reason": "probe not connected"}]
    (run / "run.json").write_text(json.dumps(night))
    exported = set(re.findall(r"^# TYPE (hil_[a-z0-9_]+) ", exposition(run.parent), re.M))
    assert used and used <= exported, used - exported
    # the panels the issue asks for
    titles = {p["title"] for p in data["panels"]}
    assert {"Accuracy per strategy", "Step latency per device", "Memory", "Expectations failing",
            "Regressions", "Run status"} <= titles
    # and every panel queries the provisioned datasource
    uids = {t["datasource"]["uid"] for p in data["panels"] for t in p.get("targets", [])}
    assert uids == {"hil-prometheus"}
    assert len({p["id"] for p in data["panels"]}) == len(data["panels"])


def test_provisioning_points_at_the_dashboard_and_datasource() -> None:
    source = yaml.safe_load((DASHBOARDS / "provisioning" / "datasources" / "hil-prometheus.yaml").read_text())
    (ds,) = source["datasources"]
    assert ds["type"] == "prometheus" and ds["uid"] == "hil-prometheus"
    provider = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards" / "hil.yaml").read_text())
    (p,) = provider["providers"]
    assert p["type"] == "file" and p["options"]["path"]
    assert source["apiVersion"] == provider["apiVersion"] == 1
