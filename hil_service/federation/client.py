"""What one SuperNode's ClientApp does with its device, per Flower message.

Each message runs in a fresh `flwr-clientapp` process (Flower's subprocess
isolation), so the device is opened from its serial URL every time: the node
config carries it, and a file `serial_url` in the node's state directory
replaces it after the host restarted the device. The partition file in the
same directory is this device's data; no other client reads it, and nothing
of it leaves: the reply holds parameter arrays and scalar metrics only.
Every message is journalled (JSON lines) in the state directory, which is
how the host learns per device what happened, also when the device failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil_service.device import Device
from hil_service.errors import HilError
from hil_service.federation.partitions import Partition, load_partition
from hil_service.federation.weights import Compression, arrays_to_blob, blob_to_arrays, encode_update
from hil_service.reference import Arch, TrainParams

__all__ = ["ClientFailure", "NodeSetup", "evaluate_round", "train_round"]

#: how long a message waits for a restarted device's new URL before it gives up
RECONNECT_S = 20.0


class ClientFailure(HilError):
    """The device failed during a message; the text names the device first."""


@dataclass(frozen=True)
class NodeSetup:
    """The node config of one SuperNode: which device, which partition, where its files are."""

    device_id: str
    partition_id: int
    serial_url: str
    baud: int
    state_dir: Path

    @classmethod
    def from_node_config(cls, cfg: Any) -> NodeSetup:
        return cls(str(cfg["device-id"]), int(cfg["partition-id"]), str(cfg["serial-url"]),
                   int(cfg.get("baud", 115200)), Path(str(cfg["state-dir"])))

    def url(self) -> str:
        override = self.state_dir / "serial_url"
        return override.read_text().strip() if override.is_file() else self.serial_url

    def partition(self) -> Partition:
        return load_partition(self.state_dir / "partition.npz")

    def journal(self, **entry: Any) -> None:
        with (self.state_dir / "journal.jsonl").open("a") as f:
            f.write(json.dumps({"t": time.time(), **entry}) + "\n")


@contextmanager
def _device(node: NodeSetup, kind: str, server_round: int) -> Iterator[Device]:
    """The device at its current URL, waiting a while for a restarted one."""
    deadline = time.monotonic() + RECONNECT_S
    url = node.url()
    while True:
        dev: Device | None = None
        try:
            dev = Device.open(url, baudrate=node.baud, timeout=5.0, budget=10.0)
            dev.hello()
            node.journal(kind=kind, round=server_round, opened=url)
            break
        except (HilError, OSError) as exc:
            if dev is not None:
                dev.close()
            if time.monotonic() > deadline:
                raise ClientFailure(f"[{node.device_id}] cannot reach the device at {url}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                    ) from exc
            time.sleep(0.5)
            url = node.url()
    try:
        yield dev
    finally:
        dev.close()


def _prepared(dev: Device, blob: bytes, params: TrainParams) -> None:
    dev.reset()
    dev.configure(Arch(tuple(int(s) for s in _sizes(blob))), params)
    dev.load_weights(blob)


def _sizes(blob: bytes) -> tuple[int, ...]:
    arrays = blob_to_arrays(blob)
    return (arrays[0].shape[1], *(w.shape[0] for w in arrays[0::2]))


def _guarded(node: NodeSetup, kind: str, server_round: int, work: Any) -> Any:
    try:
        return work()
    except Exception as exc:
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not line.startswith(f"[{node.device_id}]"):
            line = f"[{node.device_id}] {kind} round {server_round}: {line}"
        node.journal(kind=kind, round=server_round, error=line)
        raise ClientFailure(line) from exc


def train_round(node: NodeSetup, arrays: list[np.ndarray], cfg: dict[str, Any]
                ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """LOAD_WEIGHTS, EVALUATE the global model, TRAIN local epochs, READ_WEIGHTS; the reply."""
    server_round = int(cfg["server-round"])

    def work() -> tuple[dict[str, np.ndarray], dict[str, float]]:
        p = node.partition()
        params = TrainParams(**json.loads(str(cfg["train-params"])))
        blob = arrays_to_blob(arrays)
        t0 = time.monotonic()
        with _device(node, "train", server_round) as dev:
            _prepared(dev, blob, params)
            before = dev.evaluate(p.x_test, p.y_test)
            dev.metrics(reset=True)
            rng = np.random.default_rng(int(cfg["seed"]) * 1000 + server_round * 31 + p.index)
            order = np.concatenate([rng.permutation(len(p.x_train))
                                    for _ in range(int(cfg["local-epochs"]))])
            batch = int(cfg.get("batch-size", 0)) or None
            summary = dev.train(p.x_train[order], p.y_train[order], batch_size=batch)
            m = dev.metrics()
            local = blob_to_arrays(dev.read_weights())
            stats = dev.link.stats
        mu = float(cfg.get("proximal-mu", 0.0))
        if mu > 0:
            # the firmware's loss has no proximal term: pull the local model towards the
            # global one afterwards, as one proximal step of weight mu would
            local = [g + (w - g) / (1.0 + mu) for w, g in zip(local, arrays, strict=True)]
        sent = encode_update(local, arrays, Compression(str(cfg["compression-kind"]),
                                                        float(cfg["compression-k"])))
        cycles = np.array([c for c, o in zip(summary.step_cycles, summary.outcomes, strict=True)
                           if o == 0], dtype=np.float64)
        hz = m.cycles_hz or 0
        metrics = {
            "num-examples": float(len(order)), "partition-id": float(node.partition_id),
            "global-accuracy-local": before.accuracy, "train-loss": summary.loss_sum / max(1, len(order)),
            "samples-trained": float(summary.trained),
            "step-us-p50": float(np.median(cycles) / hz * 1e6) if len(cycles) and hz else -1.0,
            "serial-bytes-down": float(stats.bytes_sent), "serial-bytes-up": float(stats.bytes_received),
            "flower-bytes-up": float(sum(a.nbytes for a in sent.values())),
            "seconds": time.monotonic() - t0,
        }
        node.journal(kind="train", round=server_round, metrics=metrics)
        return sent, metrics

    result: tuple[dict[str, np.ndarray], dict[str, float]] = _guarded(node, "train", server_round, work)
    return result


def evaluate_round(node: NodeSetup, arrays: list[np.ndarray], cfg: dict[str, Any]) -> dict[str, float]:
    """The global model on this device's local test split (EVALUATE on the device)."""
    server_round = int(cfg["server-round"])

    def work() -> dict[str, float]:
        p = node.partition()
        params = TrainParams(**json.loads(str(cfg["train-params"])))
        with _device(node, "evaluate", server_round) as dev:
            _prepared(dev, arrays_to_blob(arrays), params)
            ev = dev.evaluate(p.x_test, p.y_test)
        metrics = {"num-examples": float(len(p.y_test)), "partition-id": float(node.partition_id),
                   "accuracy": ev.accuracy, "loss": ev.loss}
        node.journal(kind="evaluate", round=server_round, metrics=metrics)
        return metrics

    result: dict[str, float] = _guarded(node, "evaluate", server_round, work)
    return result
