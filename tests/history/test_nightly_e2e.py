"""Five real nightly runs of a small plan (`hil run` on the native firmware over its pty), the
fifth with an accuracy drop injected (a learning rate 500 times too small, as a bad plan edit
would do): `hil history`, the summary line, run.json, junit.xml, the report and the Prometheus
metrics all flag it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from hil_service.cli import main
from tests.service.conftest import small_plan

RUN = """\
  - name: last_layer
    strategy: last_layer
    params: {{learning_rate: {lr}}}
    stream: {{samples: 64}}
    expect: {{accuracy: ">= 0.5"}}
"""


def _night(tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int, lr: float,
           *extra: str) -> tuple[int, str, Path]:
    plan = small_plan(tmp_path, RUN.format(lr=lr), backend="native", name=f"plan{n}.yaml")
    out_dir = tmp_path / "runs" / f"night{n}"
    code = main(["run", str(plan), "--out", str(out_dir), *extra])
    return code, capsys.readouterr().out, out_dir


def test_an_injected_accuracy_drop_in_the_fifth_night_is_flagged_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accuracies = []
    for n in range(1, 5):
        code, out, run_dir = _night(tmp_path, capsys, n, 0.05)
        assert code == 0, out
        data = json.loads((run_dir / "run.json").read_text())
        assert not [r for r in data["regressions"] if r["metric"] == "accuracy"]
        accuracies.append(data["runs"][0]["metrics"]["accuracy"])
        curve = data["runs"][0]["train_curve"]  # recorded from the real TRAIN replies
        assert curve["samples"][-1] == 64 and 0 < curve["accuracy"][-1] <= 1 and len(curve["loss"]) > 3
    code, out, run_dir = _night(tmp_path, capsys, 5, 0.0001, "--fail-on-regression")
    data = json.loads((run_dir / "run.json").read_text())
    dropped = data["runs"][0]["metrics"]["accuracy"]
    assert dropped < min(accuracies) - 0.05  # the injected drop is real
    assert data["runs"][0]["status"] == "passed"  # the plan's own threshold still holds ...
    assert code == 1 and data["status"] == "failed"  # ... but the regression fails the night

    [r] = [r for r in data["regressions"] if r["metric"] == "accuracy"]
    # host-clock step times are not judged (history.py): no latency "regression" from CI load
    assert not [r for r in data["regressions"] if r["metric"].startswith("train_step")]
    assert (r["device"], r["strategy"], r["direction"], r["runs"]) == ("native", "last_layer", "lower", 4)
    assert r["value"] == dropped and r["threshold"] < min(accuracies)
    # the summary line names it, and the totals count it
    assert re.search(rf"^REGRESSION native last_layer: accuracy {dropped:.4g} < ", out, flags=re.M), out
    assert re.search(r"small: 1 passed, 0 failed, 0 errors, \d+ regressions? on 1 device", out), out
    # junit: a failing `regressions` case with the regression as a property
    [case] = [c for c in ET.parse(run_dir / "junit.xml").iter("testcase") if c.get("name") == "regressions"]
    assert case.find("failure") is not None
    assert any(p.get("name") == "regression.accuracy" for p in case.iter("property"))

    # hil history: the series, its sparkline ending in "!", the exit code
    code = main(["history", "--runs-root", str(tmp_path / "runs"), "--plan", "small", "--metric", "accuracy"])
    hist = capsys.readouterr().out
    assert code == 1
    head, _, *rows, summary = hist.splitlines()
    assert head.startswith("small / last_layer / native / accuracy (higher is better): ") and head.endswith("!")
    assert [row.split()[0] for row in rows] == [f"night{n}" for n in range(1, 6)]
    assert rows[-1].endswith("REGRESSION") and not any(r.endswith("REGRESSION") for r in rows[:-1])

    # the report of the fifth night: the regression, and the history sparkline with it in red
    code = main(["report", str(run_dir)])
    summary_out = capsys.readouterr().out
    assert code == 1 and f"REGRESSION native last_layer: accuracy {dropped:.4g} < " in summary_out
    assert re.search(r"small: failed, 1 runs, \d+ regressions?; report ", summary_out), summary_out
    doc = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Regressions</h2>" in doc and f"REGRESSION native last_layer: accuracy {dropped:.4g} &lt;" in doc
    row = re.search(r'<tr data-series="last_layer/native/accuracy">(.*?)</tr>', doc)
    assert row is not None and "badge regression" in row.group(1) and 'class="regressed"' in row.group(1)
    assert 'class="pair plot-train-curve"' in doc

    # the metrics (H8's exporter reads run.json "regressions"): the series shows the regression
    from hil_service.metrics_export import exposition

    lines = exposition(tmp_path / "runs").splitlines()
    assert any(re.fullmatch(r'hil_regression\{.*direction="lower",metric="accuracy",plan="small",'
                            r'strategy="last_layer"\} 1(\.0)?', ln) for ln in lines), lines
