"""The Flower app: a ClientApp per device and the ServerApp's round loop.

`flwr run` ships this through a generated app directory (hil_service.federation
.processes) whose components point here. The ClientApp hands each message to
hil_service.federation.client; the ServerApp runs Flower's strategy
(FedAvg/FedProx/FedAdam) round by round itself rather than `strategy.start`,
because a round here must also wait for restarted devices to rejoin, say
which device missed which round and why, and turn compressed updates back into
dense arrays before the strategy aggregates. It writes one JSON line per round
to the events file the host reads.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from hil_service.federation.client import NodeSetup, evaluate_round, train_round
from hil_service.federation.weights import Compression, blob_to_arrays, decode_update
from hil_service.reference import Mlp

__all__ = ["client_app", "server_app"]

client_app = ClientApp()
server_app = ServerApp()


def _config(msg: Message) -> dict[str, Any]:
    return dict(msg.content.config_records["config"])


def _arrays(msg: Message) -> list[np.ndarray]:
    return msg.content.array_records["arrays"].to_numpy_ndarrays()


def _metrics(content: RecordDict) -> dict[str, float]:
    return {k: float(v) for k, v in content.metric_records["metrics"].items()
            if isinstance(v, int | float)}


def _metric_record(values: dict[str, float]) -> MetricRecord:
    return MetricRecord(dict[str, int | float | list[int] | list[float]](values))


@client_app.train()
def _train(msg: Message, context: Context) -> Message:
    node = NodeSetup.from_node_config(context.node_config)
    sent, metrics = train_round(node, _arrays(msg), _config(msg))
    content = RecordDict({"update": ArrayRecord({k: Array(v) for k, v in sent.items()}),
                          "metrics": _metric_record(metrics)})
    return Message(content=content, reply_to=msg)


@client_app.evaluate()
def _evaluate(msg: Message, context: Context) -> Message:
    node = NodeSetup.from_node_config(context.node_config)
    metrics = evaluate_round(node, _arrays(msg), _config(msg))
    return Message(content=RecordDict({"metrics": _metric_record(metrics)}), reply_to=msg)


# -- server --------------------------------------------------------------------------------
_DEVICE = re.compile(r"\[([^\]]+)\]")


class _Events:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **event: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"t": time.time(), **event}) + "\n")


def _strategy(s: dict[str, Any]) -> FedAvg:
    common: dict[str, Any] = {"fraction_train": 1.0, "fraction_evaluate": 1.0,
                              "min_train_nodes": s["min_clients"], "min_evaluate_nodes": s["min_clients"],
                              "min_available_nodes": s["min_clients"]}
    kind = s["aggregation"]
    if kind == "fedprox":
        return FedProx(**common, proximal_mu=s["proximal_mu"])
    if kind == "fedadam":
        return FedAdam(**common, eta=s["server_lr"], eta_l=s["train_params"]["learning_rate"])
    return FedAvg(**common)


def _wait_for_nodes(grid: Grid, want: int, least: int, patience: float) -> list[int]:
    """All `want` nodes, or after `patience` seconds at least `least` of them (waiting on for those)."""
    deadline = time.monotonic() + patience
    while True:
        nodes = list(grid.get_node_ids())
        if len(nodes) >= want or (len(nodes) >= least and time.monotonic() > deadline):
            return nodes
        time.sleep(0.5)


def _audit(content: RecordDict) -> dict[str, Any]:
    """What a reply carried, record by record: array dtypes and shapes, metric kinds."""
    out: dict[str, Any] = {}
    for name, record in content.items():
        if isinstance(record, ArrayRecord):
            out[name] = {"type": "arrays",
                         "entries": {k: [a.dtype, list(a.shape)] for k, a in record.items()}}
        elif isinstance(record, MetricRecord):
            out[name] = {"type": "metrics", "entries": {k: type(v).__name__ for k, v in record.items()}}
        else:
            out[name] = {"type": type(record).__name__, "entries": sorted(record.keys())}
    return out


def _array_bytes(record: ArrayRecord) -> int:
    return sum(len(a.data) for a in record.values())


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    s = json.loads(Path(str(context.run_config["settings"])).read_text())
    events = _Events(Path(s["events"]))
    devices: list[str] = s["devices"]
    how = Compression(s["compression"]["kind"], s["compression"]["k"])
    strategy = _strategy(s)
    arrays = blob_to_arrays(Path(s["initial_blob"]).read_bytes())
    with np.load(s["global_test"]) as z:
        x_test, y_test = z["x"], z["y"]

    def twin_accuracy(a: list[np.ndarray]) -> float:
        from hil_service.federation.weights import arrays_to_blob

        return float(Mlp.from_blob(arrays_to_blob(a)).accuracy(x_test, y_test))

    config = {"train-params": json.dumps(s["train_params"]), "local-epochs": s["local_epochs"],
              "batch-size": s["batch_size"] or 0, "compression-kind": how.kind,
              "compression-k": float(how.k), "seed": s["seed"], "proximal-mu": s["proximal_mu"]}
    events.write(kind="start", accuracy=twin_accuracy(arrays), devices=devices)
    for rnd in range(1, s["rounds"] + 1):
        t0 = time.monotonic()
        _wait_for_nodes(grid, len(devices), s["min_clients"],
                        s["start_s"] if rnd == 1 else s["rejoin_s"])
        current = ArrayRecord(numpy_ndarrays=arrays)
        messages = list(strategy.configure_train(rnd, current, ConfigRecord(dict(config)), grid))
        down = _array_bytes(current) * len(messages)
        replies = list(grid.send_and_receive(messages, timeout=s["round_deadline_s"]))
        ok: list[Message] = []
        per_device: dict[str, dict[str, float]] = {}
        missed: dict[str, str] = {}
        up = 0
        audit: list[dict[str, Any]] = []
        for reply in replies:
            if reply.has_error():
                reason = reply.error.reason or "error without a reason"
                m = _DEVICE.search(reason)
                missed[m.group(1) if m else f"node {reply.metadata.src_node_id}"] = reason
                continue
            metrics = _metrics(reply.content)
            device = devices[int(metrics["partition-id"])]
            audit.append(_audit(reply.content))
            update = reply.content.array_records["update"]
            sent = {k: a.numpy() for k, a in update.items()}
            up += _array_bytes(update)
            dense = decode_update(sent, arrays, how)
            # the strategy aggregates dense arrays under its own keys
            reply.content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=dense),
                                        "metrics": _metric_record({"num-examples": metrics["num-examples"]})})
            ok.append(reply)
            per_device[device] = metrics
        for device in devices:
            if device not in per_device and device not in missed:
                missed[device] = f"no reply within the round deadline ({s['round_deadline_s']:g} s)"
        if ok:
            agg, _ = strategy.aggregate_train(rnd, ok)
            if agg is not None:
                arrays = agg.to_numpy_ndarrays()
        events.write(kind="round", round=rnd, accuracy=twin_accuracy(arrays), devices=per_device,
                     missed=missed, flower_bytes_down=down, flower_bytes_up=up, replies=audit,
                     seconds=time.monotonic() - t0)
    np.savez(s["final_arrays"], *arrays)
    # the final global model on each device's local test split
    _wait_for_nodes(grid, len(devices), s["min_clients"], s["rejoin_s"])
    final = ArrayRecord(numpy_ndarrays=arrays)
    messages = list(strategy.configure_evaluate(s["rounds"], final, ConfigRecord(dict(config)), grid))
    after: dict[str, dict[str, float]] = {}
    missed = {}
    for reply in grid.send_and_receive(messages, timeout=s["round_deadline_s"]):
        if reply.has_error():
            reason = reply.error.reason or "error"
            m = _DEVICE.search(reason)
            missed[m.group(1) if m else f"node {reply.metadata.src_node_id}"] = reason
            continue
        metrics = _metrics(reply.content)
        after[devices[int(metrics["partition-id"])]] = metrics
    events.write(kind="final", devices=after, missed=missed)

