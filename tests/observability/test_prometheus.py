"""The whole monitoring path with real processes on loopback: a real `hil run` pushes to a
real Pushgateway, a real `hil serve` exports the run directory, a real Prometheus scrapes
both (1 s interval, with the shipped alert rules), and PromQL over its HTTP API returns the
run's accuracy from either path; every dashboard query is valid PromQL there."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import PASSING_RUN, small_plan

from .conftest import DASHBOARDS, Processes, free_port, hil_command, http_get, promql, tool

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: hil-serve
    static_configs:
      - targets: ["127.0.0.1:{serve}"]
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{gateway}"]
"""


def _wait_series(base: str, query: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        answer = promql(base, query)
        assert answer["status"] == "success", answer
        if answer["data"]["result"]:
            result: list[dict[str, Any]] = answer["data"]["result"]
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{query}: no series after {timeout} s")
        time.sleep(0.5)


def _dashboard_queries() -> list[str]:
    data = json.loads((DASHBOARDS / "grafana" / "hil-service.json").read_text())
    exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in data["templating"]["list"]]
    assert len(exprs) > 15
    return exprs


def test_accuracy_reaches_prometheus_by_scrape_and_by_push(tmp_path: Path, processes: Processes) -> None:
    gateway, serve, prom = free_port(), free_port(), free_port()
    runs = tmp_path / "runs"
    runs.mkdir()
    processes.start("pushgateway", [tool("prometheus-pushgateway"),
                                    f"--web.listen-address=127.0.0.1:{gateway}"],
                    ready_url=f"http://127.0.0.1:{gateway}/-/ready")
    processes.start("hil-serve", hil_command("serve", "--runs", str(runs), "--port", str(serve)),
                    ready_url=f"http://127.0.0.1:{serve}/metrics")
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(rules=DASHBOARDS / "prometheus" / "alerts.yml",
                                               serve=serve, gateway=gateway))
    processes.start("prometheus", [tool("prometheus"), f"--config.file={config}",
                                   f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom}"],
                    ready_url=f"http://127.0.0.1:{prom}/-/ready")
    base = f"http://127.0.0.1:{prom}"

    plan = small_plan(tmp_path, PASSING_RUN, backend="native")
    run = subprocess.run(hil_command("run", str(plan), "--out", str(runs / "r1"),
                                     "--pushgateway", f"http://127.0.0.1:{gateway}"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"metric groups to http://127.0.0.1:{gateway}" in run.stderr
    record = json.loads((runs / "r1" / "run.json").read_text())
    accuracy = record["runs"][0]["metrics"]["accuracy"]
    assert 0.5 <= accuracy <= 1.0

    series = 'hil_accuracy_ratio{plan="small", board="native", strategy="last_layer", job="%s"}'
    scraped = _wait_series(base, series % "hil-serve")
    pushed = _wait_series(base, series % "hil")
    assert len(scraped) == len(pushed) == 1
    assert float(scraped[0]["value"][1]) == pytest.approx(accuracy, abs=1e-12)
    assert float(pushed[0]["value"][1]) == pytest.approx(accuracy, abs=1e-12)
    # the two paths merge into one series the way the dashboard and the alerts query them
    merged = promql(base, 'max without (job, instance) (hil_accuracy_ratio{plan="small"})')
    assert len(merged["data"]["result"]) == 1
    status = _wait_series(base, 'hil_run_status{plan="small", job="hil", status="passed"} == 1')
    assert status[0]["metric"]["board"] == "native"

    # the exposition Prometheus scraped passes promtool's checks
    check = subprocess.run([tool("promtool"), "check", "metrics"], capture_output=True, text=True,
                           input=http_get(f"http://127.0.0.1:{serve}/metrics"), timeout=60)
    assert check.returncode == 0 and not check.stdout + check.stderr, check.stdout + check.stderr

    # every dashboard query parses and runs (its variables at "all")
    for expr in _dashboard_queries():
        query = expr.replace("$plan", "small").replace("$board", ".*").replace("$strategy", ".*")
        if query.startswith("label_values("):
            metric = query.removeprefix("label_values(").rsplit(",", 1)[0]
            query = f"count by ({expr.rsplit(',', 1)[1].strip(' )')}) ({metric})"
        answer = promql(base, query)
        assert answer["status"] == "success", (expr, answer)
    accuracy_panel = promql(base, 'max without (job, instance) (hil_accuracy_ratio{plan=~"small", '
                                  'board=~".*", strategy=~".*"})')
    assert float(accuracy_panel["data"]["result"][0]["value"][1]) == pytest.approx(accuracy)

    # the shipped alert rules loaded and evaluate without errors
    deadline = time.monotonic() + 30
    while True:
        groups = json.loads(http_get(f"{base}/api/v1/rules"))["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("2") and
                         not r["lastEvaluation"].startswith("0001") for r in rules):
            break
        assert time.monotonic() < deadline, rules
        time.sleep(0.5)
    assert {r["name"] for r in rules} >= {"HilAccuracyRegression", "HilNightlyNotRun",
                                          "HilDeviceUnavailable"}
    assert all(r["health"] == "ok" for r in rules), rules
    # no nightly ever ran against this Prometheus: that alert is pending (for: 15m)
    nightly = next(r for r in rules if r["name"] == "HilNightlyNotRun")
    assert nightly["state"] == "pending"
