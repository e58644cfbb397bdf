"""The report's "Trust and lineage" section: what adapting cost the base model, and
which weights each device ended with and started from (hil_service/trust.py,
hil_service/lineage.py).

Like the rest of the report it reads run.json tolerantly (a missing or mistyped
part shows "–") and escapes every string from the run.
"""

from __future__ import annotations

import math
from typing import Any

from hil_service.lineage import ancestry, entries
from hil_service.report_access import DASH
from hil_service.report_access import as_dict as _d
from hil_service.report_access import escape as _e

__all__ = ["lineage_section"]


def _ratio(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return DASH
    return f"{value:.3f}"


def _sha(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return DASH
    return f'<code title="{_e(value)}">{_e(value[:12])}</code>'


def _origin(data: dict[str, Any]) -> str:
    base = _d(data.get("base_model"))
    if not base:
        return ""
    origin = _d(base.get("origin"))
    if origin.get("from_run"):
        what = (f"the result of <code>{_e(origin.get('device'))}/{_e(origin.get('strategy'))}</code> "
                f"in run <code>{_e(origin.get('from_run'))}</code>")
    elif origin.get("blob"):
        what = f"the weights file <code>{_e(origin.get('blob'))}</code>"
    else:
        what = "a base model pretrained on the host from the plan's recipe"
    return f"<p>Every device started from {_sha(base.get('sha256'))}: {what}.</p>"


def _chain(data: dict[str, Any]) -> str:
    """The weights this run started from and their own ancestors, oldest first."""
    steps = ancestry(data)
    if len(steps) < 2:  # a host-pretrained base or a blob file: _origin says it all
        return ""
    items = []
    for step in steps:
        if step.get("missing"):
            what = f"run <code>{_e(step['missing'])}</code> (its run.json is gone)"
        elif step.get("run"):
            what = (f"<code>{_e(step.get('device'))}/{_e(step.get('strategy'))}</code> in run "
                    f"<code>{_e(step['run'])}</code>")
        elif step.get("blob"):
            what = f"weights file <code>{_e(step['blob'])}</code>"
        else:
            arch = "-".join(str(s) for s in step.get("arch") or [])
            what = f"base {_e(arch)} pretrained on the host"
        items.append(f"<li>{_sha(step.get('sha256'))} {what}</li>")
    items.append("<li>this run's models (below)</li>")
    return f'<h3>Chain</h3><ol class="chain">{"".join(items)}</ol>'


def _trust_rows(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        m = _d(run.get("metrics"))
        if all(m.get(k) is None for k in ("source_accuracy_after", "negative_flip_rate")):
            continue
        rows.append(f"<tr><td>{_e(run.get('device'))}</td><td>{_e(run.get('strategy'))}</td>"
                    f'<td class="num">{_ratio(m.get("source_accuracy_before"))} → '
                    f'{_ratio(m.get("source_accuracy_after"))}</td>'
                    f'<td class="num">{_ratio(m.get("negative_flip_rate"))}</td>'
                    f'<td class="num">{_ratio(m.get("prediction_churn"))}</td></tr>')
    if not rows:
        return ""
    return ("<h3>Trust</h3><table class=\"trust\"><tr><th>Device</th><th>Strategy</th>"
            "<th>Source accuracy before → after</th><th>Negative flip rate</th>"
            "<th>Prediction churn</th></tr>" + "".join(rows) + "</table>"
            '<p class="muted">On the unshifted test split; base predictions taken on the same '
            "device before training.</p>")


def _lineage_rows(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        for e in entries(run):
            blob = e.get("blob")
            link = (f'<a href="{_e(blob)}">{_e(blob)}</a>' if isinstance(blob, str) else DASH)
            rows.append(f"<tr><td>{_e(e.get('device'))}</td><td>{_e(e.get('strategy'))}</td>"
                        f"<td>{_sha(e.get('parent'))} → {_sha(e.get('child'))}</td>"
                        f"<td>{_sha(e.get('plan'))}</td><td>{_sha(e.get('data'))}</td>"
                        f"<td><code>{_e(e.get('build_id'))}</code></td><td>{link}</td></tr>")
    if not rows:
        return ""
    return ("<h3>Lineage</h3><table class=\"lineage\"><tr><th>Device</th><th>Strategy</th>"
            "<th>Weights: parent → child</th><th>Plan</th><th>Data</th><th>Firmware build</th>"
            "<th>Final weights</th></tr>" + "".join(rows) + "</table>"
            '<p class="muted">sha256 hashes (first 12 digits; hover for all). '
            "<code>hil lineage RUN_DIR</code> prints the whole chain.</p>")


def lineage_section(data: dict[str, Any]) -> str:
    """The section's HTML, or "" when the run recorded neither trust figures nor lineage."""
    data = _d(data)
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict)]
    trust, lineage = _trust_rows(runs), _lineage_rows(runs)
    if not trust and not lineage:
        return ""
    return f'<h2 id="lineage">Trust and lineage</h2>{_origin(data)}{_chain(data)}{trust}{lineage}'
