"""Small federations for the tests: native devices, short partitions, few rounds."""

from __future__ import annotations

from pathlib import Path

NATIVE_LAB = """\
devices:
{devices}"""

NATIVE_DEVICE = """\
  - id: {id}
    backend: native
    board: native_sim
"""

FED_PLAN = """\
name: fed
dataset: digits
scenario: {{base: 0.5, stream: 0.25, test: 0.25, seed: 1, shift: sensor_offset}}
base_model: {{hidden: [16], epochs: 10, seed: 7}}
devices: {{backend: native}}
strategies:
  - name: {name}
    strategy: full
    workflow: {workflow}
    params: {{learning_rate: 0.02}}
    devices: {{ids: [{ids}]}}
    federated: {{{federated}}}
    expect: {{{expect}}}
"""


def native_lab(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(NATIVE_LAB.format(devices="".join(NATIVE_DEVICE.format(id=i) for i in ids)))
    return path


def fed_plan(tmp_path: Path, ids: list[str], federated: str, expect: str,
             name: str = "fed", workflow: str = "federated") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(FED_PLAN.format(name=name, ids=", ".join(ids), federated=federated, expect=expect,
                                    workflow=workflow))
    return path

