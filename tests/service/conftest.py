"""Plans and inventories for the service tests, written small so real runs stay quick."""

from __future__ import annotations

from pathlib import Path

SMALL_PLAN = """\
name: small
dataset: digits
scenario: {{base: 0.5, stream: 0.25, test: 0.1, seed: 1, shift: sensor_offset}}
base_model: {{hidden: [16], epochs: 5, seed: 7}}
devices: {{backend: {backend}, limit: 1}}
strategies:
{runs}"""

PASSING_RUN = """\
  - name: last_layer
    strategy: last_layer
    stream: {samples: 64}
    expect: {accuracy: ">= 0.5", samples_trained: "== 64", labels_used: "<= 64"}
"""

FAILING_RUN = """\
  - name: tinyprop
    strategy: tinyprop
    stream: {samples: 48, batch_size: 8}
    expect: {accuracy: ">= 0.999", train_step_us_p95: "> 0", backward_macs_ratio: "< 1"}
"""


def small_plan(tmp_path: Path, runs: str = PASSING_RUN + FAILING_RUN, backend: str = "auto",
               name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(SMALL_PLAN.format(backend=backend, runs=runs))
    return path

