"""`federated`: a device group learns one model on Flower; only weights leave the devices.

Each device is one Flower SuperNode whose ClientApp, per round, loads the
global weights (LOAD_WEIGHTS), evaluates them on the device's local test
split, trains `local_epochs` on the device's partition with the run's strategy
and sends its weights (or their compressed change) back (READ_WEIGHTS). The
ServerApp aggregates with Flower's FedAvg, FedProx or FedAdam and evaluates
the global model on the host twin after every round. Plan section:

    federated: {rounds: 15, local_epochs: 1, aggregation: fedavg,
                partition: "dirichlet(0.5)", seed: 0, compression: none,
                round_deadline_s: 180, min_clients: 2, target_accuracy: 0.9}

Baselines in the same run, on the twin (the C core's math): centralised
training on all partitions together, and local-only training on each device's
partition, both for `rounds × local_epochs` epochs from the same base model.
A device that dies mid-round misses that round (the others complete it); the
host restarts it and its SuperNode's next message reaches the new target.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hil_service.bringup import LiveDevice
from hil_service.errors import HilError
from hil_service.expectations import RATIO_CHANGE, MetricInfo
from hil_service.federation.partitions import Partition, parse_partition, partition, save_partition
from hil_service.federation.weights import arrays_to_blob, parse_compression
from hil_service.lineage import keep_weights
from hil_service.reference import Mlp
from hil_service.trust import TRUST_METRICS, twin_figures
from hil_service.workflows.base import PlanMismatch, Workflow, WorkflowContext

__all__ = ["FederatedSpec", "FederatedWorkflow"]

#: sample orders each twin baseline is trained with (its figure is their mean)
BASELINE_ORDERS = 3


class FederatedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: Annotated[int, Field(ge=1, le=500)] = 10
    local_epochs: Annotated[int, Field(ge=1, le=50)] = 1
    aggregation: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    proximal_mu: Annotated[float, Field(ge=0, le=100)] = 0.1  # fedprox
    server_lr: Annotated[float, Field(gt=0, le=10)] = 0.1  # fedadam's eta
    partition: str = "dirichlet(0.5)"
    #: a device's test split: its own label mix, or an equal share of the whole test split
    local_test: Literal["label_mix", "iid"] = "label_mix"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    #: cap on each device's training samples per epoch (None: its whole partition)
    samples_per_device: Annotated[int, Field(ge=1)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None
    compression: str = "none"
    round_deadline_s: Annotated[float, Field(gt=0)] = 300.0
    #: how long a round waits for a missing (restarting) device before it goes on without it
    rejoin_s: Annotated[float, Field(ge=0)] = 30.0
    #: fewest clients a round runs with (None: all but one, at least one)
    min_clients: Annotated[int, Field(ge=1)] | None = None
    target_accuracy: Annotated[float, Field(gt=0, le=1)] | None = None
    #: HOST:PORT of an existing SuperLink to join (else one is started on loopback);
    #: the environment variable HIL_FLOWER_SUPERLINK (`hil run --superlink`) overrides it
    superlink: str | None = None
    #: CA certificate of a TLS SuperLink (None: insecure, loopback only)
    root_certificates: str | None = None
    #: every device of a federation that spans hosts, in one order on every host (the
    #: partition ids); the group's own devices must be among them. Empty: the group alone
    all_devices: tuple[str, ...] = ()
    #: False on the other hosts of a multi-host federation: they only host SuperNodes and
    #: wait for the coordinator's run (which the host next to the SuperLink submits)
    coordinator: bool = True

    @field_validator("partition")
    @classmethod
    def _partition(cls, v: str) -> str:
        parse_partition(v)
        return v

    @field_validator("compression")
    @classmethod
    def _compression(cls, v: str) -> str:
        parse_compression(v)
        return v


def _m(unit: str, meaning: str, per_device: bool = False, kind: Any = None) -> MetricInfo:
    return MetricInfo(unit, meaning, per_device=per_device, kind=kind)


FEDERATED_METRICS = {
    "final_accuracy": _m("ratio", "federated: the global model's accuracy on the global test split "
                                  "(union of the devices' test splits), host twin, after the last round"),
    "rounds_to_target": _m("rounds", "federated: first round whose global accuracy reached "
                                     "target_accuracy (absent when never)"),
    "bytes_per_round": _m("bytes", "federated: parameter bytes over Flower per round, down and up, "
                                   "all devices"),
    "serial_bytes_per_round": _m("bytes", "federated: bytes on the devices' serial links per round"),
    "centralised_accuracy": _m("ratio", "federated baseline: the twin trained on all partitions "
                                        "together, global test split (mean of 3 sample orders)"),
    "centralised_gap": _m("ratio", "centralised_accuracy minus final_accuracy", kind=RATIO_CHANGE),
    "rounds_completed": _m("rounds", "federated: rounds that aggregated at least one client"),
    "missed_rounds": _m("rounds", "federated: (device, round) pairs where a device sent no update"),
    "round_seconds": _m("s", "federated: mean host wall time of one round"),
    "local_accuracy_before": _m("ratio", "federated: base model on the device's local test split, "
                                         "on the device", per_device=True),
    "local_accuracy_after": _m("ratio", "federated: final global model on the device's local test "
                                        "split, on the device", per_device=True),
    "local_only_accuracy": _m("ratio", "federated baseline: the twin trained on this device's "
                                       "partition alone, its local test split (mean of 3 orders)",
                              per_device=True),
    "gain_over_local_only": _m("ratio", "local_accuracy_after minus local_only_accuracy",
                               per_device=True, kind=RATIO_CHANGE),
    "round_step_us_p50": _m("µs", "federated: median over rounds of the device's median training "
                                  "step (device clock)", per_device=True),
    "device_missed_rounds": _m("rounds", "federated: rounds this device sent no update",
                               per_device=True),
    **TRUST_METRICS,  # of the final global model against the base, both on the twin
}


@dataclass
class _Progress:
    rounds: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    start: dict[str, Any] | None = None
    offset: int = 0

    def read(self, path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        with path.open() as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        new = [json.loads(ln) for ln in complete.splitlines() if ln.strip()]
        for ev in new:
            if ev["kind"] == "round":
                self.rounds.append(ev)
            elif ev["kind"] == "final":
                self.final = ev
            elif ev["kind"] == "start":
                self.start = ev
        return new


class FederatedWorkflow(Workflow):
    name: ClassVar[str] = "federated"
    summary: ClassVar[str] = "a device group trains one model on Flower (SuperLink + a SuperNode each)"
    section: ClassVar[str | None] = "federated"
    section_model = FederatedSpec
    implied_by_section: ClassVar[bool] = True
    metrics = FEDERATED_METRICS
    min_devices: ClassVar[int] = 1
    max_devices: ClassVar[int | None] = None
    #: how often the host looks at the federation (events, dead devices)
    tick_s: ClassVar[float] = 0.5

    def check_fits(self, spec: Any, data: Any) -> None:
        fed = spec.section
        if not isinstance(fed, FederatedSpec):
            return
        n = len(fed.all_devices) or spec.group_size
        try:
            partition(data.scenario, n, parse_partition(fed.partition), fed.seed, data.n_classes,
                      fed.local_test)
        except HilError as exc:
            raise PlanMismatch(f"strategy run {spec.name}: {exc}") from None
        if fed.min_clients is not None and fed.min_clients > n:
            raise PlanMismatch(f"strategy run {spec.name}: federated.min_clients {fed.min_clients} "
                               f"is more than the group's {n} devices")

    def run(self, ctx: WorkflowContext) -> None:
        fed = ctx.section(FederatedSpec)
        lives = list(ctx.devices)
        local_ids = [lv.entry.id for lv in lives]
        ids = list(fed.all_devices) or local_ids
        foreign = [d for d in local_ids if d not in ids]
        if foreign:
            raise PlanMismatch(f"strategy run {ctx.spec.name}: devices {', '.join(foreign)} are not in "
                               f"federated.all_devices")
        sc = ctx.data.scenario
        parts = partition(sc, len(ids), parse_partition(fed.partition), fed.seed, ctx.data.n_classes,
                          fed.local_test)
        if fed.samples_per_device is not None:
            parts = [Partition(p.index, p.x_train[: fed.samples_per_device],
                               p.y_train[: fed.samples_per_device], p.x_test, p.y_test, p.gain, p.offset)
                     for p in parts]
        pairs = list(zip(ids, parts, strict=True))
        ctx.annotate(federation={
            "partition": fed.partition, "devices": ids,
            "train_samples": {i: len(p.y_train) for i, p in pairs},
            "test_samples": {i: len(p.y_test) for i, p in pairs},
            "label_counts": {i: np.bincount(p.y_train, minlength=ctx.data.n_classes).tolist()
                             for i, p in pairs}})
        baselines = self._baselines(ctx, fed, ids, parts)
        from hil_service.federation.processes import Federation

        # kept after the run: the SuperLink's and each SuperNode's logs are the device side of it
        superlink = os.environ.get("HIL_FLOWER_SUPERLINK") or fed.superlink
        fl = Federation(ctx.run_dir / "flower", superlink=superlink,
                        root_certificates=Path(fed.root_certificates) if fed.root_certificates else None)
        try:
            self._federate(ctx, fed, fl, lives, ids, parts, baselines)
        finally:
            fl.close()

    # -- the baselines on the twin ------------------------------------------------------------
    def _baselines(self, ctx: WorkflowContext, fed: FederatedSpec, ids: list[str],
                   parts: list[Partition]) -> tuple[float, dict[str, float]]:
        params = ctx.spec.train_params()
        epochs = fed.rounds * fed.local_epochs
        x_all = np.concatenate([p.x_train for p in parts])
        y_all = np.concatenate([p.y_train for p in parts])
        xt = np.concatenate([p.x_test for p in parts])
        yt = np.concatenate([p.y_test for p in parts])
        # online SGD ends wherever its last samples left it: one order's figure can be
        # several points off, so each baseline is the mean over BASELINE_ORDERS orders
        seeds = [fed.seed + k for k in range(BASELINE_ORDERS)]

        def trained(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> list[float]:
            return [Mlp.from_blob(ctx.base.blob, params).fit(x, y, epochs, shuffle_seed=s).accuracy(xt, yt)
                    for s in seeds]

        central = trained(x_all, y_all, xt, yt)
        central_acc = float(np.mean(central))
        ctx.record(centralised_accuracy=central_acc)
        local_only: dict[str, float] = {}
        alone_all: dict[str, list[float]] = {}
        for dev, p in zip(ids, parts, strict=True):
            alone_all[dev] = trained(p.x_train, p.y_train, p.x_test, p.y_test)
            local_only[dev] = float(np.mean(alone_all[dev]))
            if dev in {lv.entry.id for lv in ctx.devices}:  # others report on their own host
                ctx.record_device(dev, local_only_accuracy=local_only[dev])
        ctx.annotate(baselines={"epochs": epochs, "orders": seeds, "centralised": central,
                                "local_only": alone_all})
        return central_acc, local_only

    # -- the federation ---------------------------------------------------------------------
    def _federate(self, ctx: WorkflowContext, fed: FederatedSpec, fl: Any, lives: list[LiveDevice],
                  ids: list[str], parts: list[Partition],
                  baselines: tuple[float, dict[str, float]]) -> None:
        work: Path = fl.workdir
        fl.start()
        nodes = {}
        for live in lives:
            i = ids.index(live.entry.id)
            # the ClientApp opens the device itself: one connection at a time
            live.device.close()
            save_partition(parts[i], work / "nodes" / live.entry.id / "partition.npz")
            nodes[live.entry.id] = fl.add_node(live.entry.id, i, live.target.serial_url, live.entry.baud)
        if not fed.coordinator:
            self._member(ctx, fed, lives, nodes, baselines)
            return
        (work / "base.blob").write_bytes(ctx.base.blob)
        np.savez(work / "global_test.npz", x=np.concatenate([p.x_test for p in parts]),
                 y=np.concatenate([p.y_test for p in parts]))
        how = parse_compression(fed.compression)
        settings = {
            "devices": ids, "rounds": fed.rounds, "local_epochs": fed.local_epochs,
            "batch_size": fed.batch_size, "aggregation": fed.aggregation, "proximal_mu": fed.proximal_mu,
            "server_lr": fed.server_lr, "seed": fed.seed,
            "min_clients": fed.min_clients or max(1, len(ids) - 1),
            "round_deadline_s": fed.round_deadline_s, "rejoin_s": fed.rejoin_s, "start_s": 120.0,
            "compression": {"kind": how.kind, "k": how.k},
            "train_params": _params_json(ctx),
            "events": str(work / "events.jsonl"), "initial_blob": str(work / "base.blob"),
            "global_test": str(work / "global_test.npz"), "final_arrays": str(work / "final.npz")}
        (work / "settings.json").write_text(json.dumps(settings))
        run_id = fl.submit(work / "settings.json")
        ctx.annotate(federation_run={"superlink": fl.address, "flower_run_id": run_id,
                                     "aggregation": fed.aggregation, "compression": fed.compression,
                                     "logs": str(work)})
        progress = _Progress()
        deadline = time.monotonic() + 180 + fed.rounds * (fed.round_deadline_s + fed.rejoin_s + 30)
        restarts: list[dict[str, Any]] = []
        last_status_check = time.monotonic()
        current = {lv.entry.id: lv for lv in lives}
        while progress.final is None:
            for ev in progress.read(work / "events.jsonl"):
                if ev["kind"] == "round":
                    ctx.progress(ev["round"], fed.rounds)
                    ctx.annotate(federation_rounds=progress.rounds)
            self._restart_dead(current, nodes, restarts, len(progress.rounds), ctx)
            self.on_tick(current, nodes, progress)
            if time.monotonic() > deadline:
                raise _FederationTimeout(f"federation {run_id}: no final result after "
                                         f"{len(progress.rounds)} of {fed.rounds} rounds")
            if time.monotonic() - last_status_check > 15:
                last_status_check = time.monotonic()
                fl.check_alive()
                status = fl.run_status(run_id)
                if status.startswith("finished") and progress.final is None:
                    progress.read(work / "events.jsonl")
                    if progress.final is None:
                        raise _FederationTimeout(f"Flower run {run_id} ended ({status}) after "
                                                 f"{len(progress.rounds)} of {fed.rounds} rounds; "
                                                 f"see {work}/superlink.log")
            time.sleep(self.tick_s)
        self._record(ctx, fed, ids, progress, nodes, baselines)
        self._keep_global(ctx, work / "final.npz", list(nodes))

    @staticmethod
    def _keep_global(ctx: WorkflowContext, final: Path, members: list[str]) -> None:
        """The global model is each member's final model: its trust figures (twin, hil_service/
        trust.py) and its blob kept per member, for the runner to record their lineage."""
        with np.load(final) as arrays:
            blob = arrays_to_blob([arrays[k] for k in arrays.files])
        figures = twin_figures(ctx.base.blob, blob, ctx.data)
        if figures is not None:
            ctx.record(**figures.metrics())
        for dev in members:
            keep_weights(ctx.run_dir, dev, blob)

    def _member(self, ctx: WorkflowContext, fed: FederatedSpec, lives: list[LiveDevice],
                nodes: dict[str, Any], baselines: tuple[float, dict[str, float]]) -> None:
        """Host SuperNodes for another host's run: done when each has evaluated the final model."""
        deadline = time.monotonic() + 600 + fed.rounds * (fed.round_deadline_s + fed.rejoin_s + 30)
        current = {lv.entry.id: lv for lv in lives}
        restarts: list[dict[str, Any]] = []
        while True:
            journals = {d: n.journal() for d, n in nodes.items()}
            if all(any(e["kind"] == "evaluate" and "metrics" in e for e in j) for j in journals.values()):
                break
            self._restart_dead(current, nodes, restarts, -1, ctx)
            if time.monotonic() > deadline:
                raise _FederationTimeout("federation member: the coordinator's run did not finish")
            time.sleep(self.tick_s)
        ctx.annotate(client_journals=journals)
        for dev, j in journals.items():
            trains = [e for e in j if e["kind"] == "train" and "metrics" in e]
            first = next((e for e in trains if e["round"] == 1), None)
            final = [e for e in j if e["kind"] == "evaluate" and "metrics" in e][-1]
            steps = [e["metrics"]["step-us-p50"] for e in trains if e["metrics"]["step-us-p50"] >= 0]
            after = final["metrics"]["accuracy"]
            ctx.record_device(dev, local_accuracy_before=first["metrics"]["global-accuracy-local"]
                              if first else None, local_accuracy_after=after,
                              gain_over_local_only=after - baselines[1][dev],
                              round_step_us_p50=float(np.median(steps)) if steps else None,
                              device_missed_rounds=float(fed.rounds - len({e["round"] for e in trains})))

    def _restart_dead(self, current: dict[str, LiveDevice], nodes: dict[str, Any],
                      restarts: list[dict[str, Any]], after_round: int, ctx: WorkflowContext) -> None:
        """A dead device is restarted at once; its node's next message reaches the new target."""
        for dev_id, live in list(current.items()):
            if live.target.alive():
                continue
            why = f"target ended with exit code {live.target.exit_code()}"
            new = ctx.restart(dev_id)
            new.device.close()
            nodes[dev_id].set_serial_url(new.target.serial_url)
            current[dev_id] = new
            restarts.append({"device": dev_id, "after_round": after_round, "why": why,
                             "serial_url": new.target.serial_url})
            ctx.annotate(federation_restarts=restarts)

    def on_tick(self, devices: dict[str, LiveDevice], nodes: dict[str, Any], progress: _Progress) -> None:
        """Called twice a second while the federation runs (a seam for fault-injection tests)."""

    def _record(self, ctx: WorkflowContext, fed: FederatedSpec, ids: list[str], progress: _Progress,
                nodes: dict[str, Any], baselines: tuple[float, dict[str, float]]) -> None:
        rounds = progress.rounds
        acc = [r["accuracy"] for r in rounds]
        final = progress.final or {}
        ctx.annotate(federation_rounds=rounds, federation_final=final,
                     accuracy_per_round=[progress.start["accuracy"] if progress.start else None, *acc],
                     client_journals={d: n.journal() for d, n in nodes.items()})
        reached = [r["round"] for r in rounds if fed.target_accuracy is not None
                   and r["accuracy"] >= fed.target_accuracy]
        missed = [(d, r["round"], why) for r in rounds for d, why in r["missed"].items()]
        ctx.record(final_accuracy=acc[-1] if acc else None,
                   rounds_to_target=reached[0] if reached else None,
                   bytes_per_round=float(np.mean([r["flower_bytes_down"] + r["flower_bytes_up"]
                                                  for r in rounds])) if rounds else None,
                   serial_bytes_per_round=float(np.mean([
                       sum(m["serial-bytes-down"] + m["serial-bytes-up"] for m in r["devices"].values())
                       for r in rounds])) if rounds else None,
                   rounds_completed=sum(1 for r in rounds if r["devices"]),
                   missed_rounds=len(missed),
                   round_seconds=float(np.mean([r["seconds"] for r in rounds])) if rounds else None)
        if acc:
            ctx.record(centralised_gap=baselines[0] - acc[-1])
        ctx.annotate(missed=[{"device": d, "round": r, "why": w} for d, r, w in missed])
        for dev in nodes:  # this host's devices; the others' figures are recorded on their hosts
            first = rounds[0]["devices"].get(dev) if rounds else None  # round 1 got the base model
            after = final.get("devices", {}).get(dev)
            steps = [r["devices"][dev]["step-us-p50"] for r in rounds
                     if dev in r["devices"] and r["devices"][dev]["step-us-p50"] >= 0]
            values: dict[str, float | None] = {
                "local_accuracy_before": first["global-accuracy-local"] if first else None,
                "local_accuracy_after": after["accuracy"] if after else None,
                "gain_over_local_only": after["accuracy"] - baselines[1][dev] if after else None,
                "round_step_us_p50": float(np.median(steps)) if steps else None,
                "device_missed_rounds": float(sum(1 for d, _, _ in missed if d == dev))}
            ctx.record_device(dev, **values)


class _FederationTimeout(HilError):
    """The Flower run ended or stalled before its last round."""


def _params_json(ctx: WorkflowContext) -> dict[str, Any]:
    p = ctx.spec.train_params()
    return {"strategy": int(p.strategy), "learning_rate": p.learning_rate, "momentum": p.momentum,
            "s_min": p.s_min, "s_max": p.s_max, "zeta": p.zeta, "gate_threshold": p.gate_threshold,
            "select_score": int(p.select_score), "select_threshold": p.select_threshold,
            "pseudo_score": int(p.pseudo_score), "pseudo_threshold": p.pseudo_threshold,
            "l2sp_lambda": p.l2sp_lambda}
