"""Small plans for the few-shot and label-free tests."""

from __future__ import annotations

from pathlib import Path

PLAN = """\
name: few
dataset: {dataset}
scenario: {{base: 0.5, stream: {stream}, test: 0.25, seed: 1, shift: sensor_offset}}
base_model: {{hidden: [16], epochs: 5, seed: 7}}
devices: {{backend: auto, limit: 1}}
strategies:
  - name: run
    strategy: last_layer
{body}"""


def write_plan(tmp_path: Path, body: str, dataset: str = "digits", stream: float = 0.25) -> Path:
    """A one-run plan; body: the run's lines after `strategy:`, indented by 4."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(dataset=dataset, stream=stream, body=body))
    return path
