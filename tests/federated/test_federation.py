"""Real federations: a SuperLink and one SuperNode per device on loopback, real firmware.

Kept small for two shared cores: two devices, two or three rounds, short partitions.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hil_service.bringup import LiveDevice
from hil_service.inventory import load_inventory
from hil_service.plan import load_plan
from hil_service.runner import run_plan
from hil_service.workflows import register, unregister
from hil_service.workflows.federated import FederatedWorkflow

from .conftest import fed_plan, native_lab

pytestmark = pytest.mark.timeout(900)


def _run(tmp_path: Path, ids: list[str], federated: str, expect: str, lab: Path | None = None,
         name: str = "fed", workflow: str = "federated") -> tuple[Any, dict[str, Any]]:
    lab = lab or native_lab(tmp_path, ids)
    plan_path = fed_plan(tmp_path, ids, federated, expect, name, workflow)
    plan = load_plan(plan_path)
    inv = load_inventory(lab)
    outcome = run_plan(plan, plan_path, [inv.get(i) for i in ids], tmp_path / "out")
    data = json.loads((tmp_path / "out" / "run.json").read_text())
    (run,) = data["runs"]
    return outcome, run


def _flower_processes(address: str) -> list[str]:
    """Command lines of live processes that talk to this SuperLink (none after teardown)."""
    port = address.rsplit(":", 1)[1]
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("flower" in cmd or "flwr" in cmd) and port in cmd:
            found.append(cmd)
    return found


def test_two_devices_federate_and_only_weights_and_metrics_cross_the_superlink(tmp_path: Path) -> None:
    ids = ["native-a", "native-b"]
    outcome, run = _run(tmp_path, ids,
                        "rounds: 2, partition: 'dirichlet(0.5)', samples_per_device: 40, "
                        "min_clients: 2, target_accuracy: 0.5",
                        'final_accuracy: ">= 0.5", local_accuracy_after: ">= 0.3", missed_rounds: "== 0"')
    assert outcome.status == "passed", run.get("error") or run["expectations"]
    m = run["metrics"]
    rounds = run["federation_rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and m["rounds_completed"] == 2
    assert m["rounds_to_target"] == 1
    # the global model was evaluated on the host twin after every round (and before the first)
    assert len(run["accuracy_per_round"]) == 3 and m["final_accuracy"] == rounds[-1]["accuracy"]
    n_params = 64 * 16 + 16 + 16 * 10 + 10
    shapes = {"p0": [16, 64], "p1": [16], "p2": [10, 16], "p3": [10]}
    for r in rounds:
        assert set(r["devices"]) == set(ids) and r["missed"] == {}
        assert len(r["replies"]) == 2
        for reply in r["replies"]:
            # what crossed the SuperLink from a client: parameter arrays, scalar metrics; nothing else
            assert set(reply) == {"update", "metrics"}
            assert reply["update"]["type"] == "arrays"
            assert reply["update"]["entries"] == {k: ["float32", s] for k, s in shapes.items()}
            assert reply["metrics"]["type"] == "metrics"
            assert set(reply["metrics"]["entries"].values()) == {"float"}
        # dense float32 parameters down and up, per device: the whole traffic of a round
        # (each array travels as .npy: a 128-byte header, then its data)
        assert r["flower_bytes_down"] == r["flower_bytes_up"] == 2 * (4 * n_params + 4 * 128)
    assert m["bytes_per_round"] == 4 * (4 * n_params + 4 * 128)
    assert m["serial_bytes_per_round"] > 2 * 4 * n_params  # weights plus samples on the serial links
    per = {d: r["metrics"] for d, r in run["device_results"].items()}
    for d in ids:
        assert 0 < per[d]["local_accuracy_before"] < 1 and per[d]["local_only_accuracy"] > 0
        assert per[d]["round_step_us_p50"] > 0 and per[d]["device_missed_rounds"] == 0
        assert per[d]["gain_over_local_only"] == pytest.approx(
            per[d]["local_accuracy_after"] - per[d]["local_only_accuracy"])
    # each device's samples stayed in its own node's file: the clients journal their own rounds
    journals = run["client_journals"]
    assert {e["round"] for e in journals["native-a"] if "metrics" in e} == {1, 2}
    assert _flower_processes(run["federation_run"]["superlink"]) == []


class _KillDuringRound2(FederatedWorkflow):
    """Kills the victim's emulator once its ClientApp has opened it in round 2."""

    name: ClassVar[str] = "federated_kill"
    implied_by_section: ClassVar[bool] = False
    victim: ClassVar[str] = "qemu-an386"
    tick_s: ClassVar[float] = 0.05
    killed: ClassVar[list[int]] = []

    def on_tick(self, devices: dict[str, LiveDevice], nodes: dict[str, Any], progress: Any) -> None:
        if self.killed:
            return
        if any(e.get("round") == 2 and "opened" in e for e in nodes[self.victim].journal()):
            pid = devices[self.victim].target.pid  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)


def test_a_device_killed_mid_round_misses_it_and_rejoins_after_restart(tmp_path: Path) -> None:
    _KillDuringRound2.killed.clear()
    ids = ["native-a", "qemu-an386"]
    lab = tmp_path / "lab.yaml"
    lab.write_text("devices:\n  - {id: native-a, backend: native, board: native_sim}\n"
                   "  - {id: qemu-an386, backend: qemu, board: mps2/an386, machine: mps2-an386}\n")
    register(_KillDuringRound2)
    try:
        outcome, run = _run(tmp_path, ids,
                            "rounds: 3, partition: iid, samples_per_device: 60, local_epochs: 2, "
                            "min_clients: 1, rejoin_s: 60",
                            'rounds_completed: "== 3", missed_rounds: "== 1"', lab=lab,
                            name="kill", workflow="federated_kill")
    finally:
        unregister("federated_kill")
    assert _KillDuringRound2.killed, "the victim was never seen in round 2"
    assert outcome.status == "passed", run.get("error") or run["expectations"]
    rounds = {r["round"]: r for r in run["federation_rounds"]}
    # round 2 completed with the survivor; the run says who missed it and why
    assert set(rounds[2]["devices"]) == {"native-a"}
    assert set(rounds[2]["missed"]) == {"qemu-an386"}
    assert "qemu-an386" in rounds[2]["missed"]["qemu-an386"]
    assert run["missed"] == [{"device": "qemu-an386", "round": 2,
                              "why": rounds[2]["missed"]["qemu-an386"]}]
    # the host restarted the emulator; the next round took the device back
    (restart,) = run["federation_restarts"]
    assert restart["device"] == "qemu-an386" and "exit code" in restart["why"]
    assert set(rounds[3]["devices"]) == set(ids)
    per = {d: r["metrics"] for d, r in run["device_results"].items()}
    assert per["qemu-an386"]["device_missed_rounds"] == 1 and per["native-a"]["device_missed_rounds"] == 0
    assert per["qemu-an386"]["local_accuracy_after"] is not None
    # the Flower logs stay in the run's own directory: the device side of the run
    logs = Path(run["federation_run"]["logs"])
    assert logs == tmp_path / "out" / "native-a+qemu-an386" / "kill" / "flower"
    assert {"superlink.log", "supernode-native-a.log", "supernode-qemu-an386.log"} <= {
        p.name for p in logs.iterdir()}


def test_two_hosts_join_one_superlink_as_coordinator_and_member(tmp_path: Path) -> None:
    """The two-host set-up of docs/federated.md on loopback: a SuperLink started apart, host A's
    run (coordinator, native-a) and host B's run (member, native-b) each bring their own node."""
    import threading

    from hil_service.federation.processes import Federation

    link = Federation(tmp_path / "superlink")
    address = link.start()
    try:
        def half(name: str, device: str, coordinator: bool) -> tuple[Any, dict[str, Any]]:
            d = tmp_path / name
            d.mkdir()
            return _run(d, [device],
                        f"rounds: 2, partition: iid, samples_per_device: 40, min_clients: 2, "
                        f"superlink: '{address}', all_devices: [native-a, native-b], "
                        f"coordinator: {str(coordinator).lower()}",
                        'local_accuracy_after: ">= 0.3"' + (', rounds_completed: "== 2"'
                                                            if coordinator else ""),
                        lab=native_lab(d, [device]))

        member: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: member.update(r=half("b", "native-b", False)))
        thread.start()
        outcome_a, run_a = half("a", "native-a", True)
        thread.join(600)
        outcome_b, run_b = member["r"]
    finally:
        link.close()
    assert outcome_a.status == "passed", run_a.get("error") or run_a["expectations"]
    assert outcome_b.status == "passed", run_b.get("error") or run_b["expectations"]
    # host A's rounds had both devices; each host recorded its own device
    assert all(set(r["devices"]) == {"native-a", "native-b"} for r in run_a["federation_rounds"])
    assert set(run_a["device_results"]) == {"native-a"} and set(run_b["device_results"]) == {"native-b"}
    assert run_b["device_results"]["native-b"]["metrics"]["device_missed_rounds"] == 0
    assert "federation_rounds" not in run_b  # the group figures live with the coordinator
