"""The continual schedule, the same on the device and on the host twin.

For every task t >= 1, in this order:
1. class-incremental: GROW the output layer to the classes seen so far (new
   neurons start at zero weight and bias: every old output is unchanged);
2. replay: build the memory from tasks 0..t-1's training data with the run's method
   (hil_service.distill; herding embeds with the current weights, read back), split
   evenly over the classes seen, and LOAD_REPLAY it;
3. train `epochs` passes over task t's data in an order drawn from the seed; after
   every new sample the device runs `ratio` replay steps (reference/replay.py);
4. evaluate on every task's test set so far (R[t][j]);
5. growth: while the accuracy on all seen test samples is below accuracy_standard and
   a hidden layer is narrower than max_hidden, widen every hidden layer by grow_by
   (at most to max_hidden; function-preserving), train step 3 again, evaluate again.
Every decision is handed to `decide` as it is made.

A `Learner` is the device (workflows/continual.py) or the twin (TwinLearner here);
the host twin also pretrains task 0's base model and the joint-training reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hil_service import distill
from hil_service.protocol import Quantization
from hil_service.reference import Arch, Mlp, Strategy, TrainParams
from hil_service.reference.replay import ReplayMemory
from hil_service.workflows.continual_data import TaskSequence, replay_samples
from hil_service.workflows.continual_metrics import average_accuracy
from hil_service.workflows.continual_spec import ContinualSpec

__all__ = ["Learner", "Outcome", "TwinLearner", "inference_macs", "joint_accuracy", "pretrain_base",
           "run_schedule"]

ORDER_SEED = 3  # base_models' pretraining order
Decide = Callable[..., None]


class Learner(Protocol):
    def start(self, arch: Arch, max_arch: Arch, replay_capacity: int, blob: bytes) -> int: ...

    def grow(self, to: Arch, seed: int) -> int: ...

    def load_replay(self, x: np.ndarray, y: np.ndarray, ratio: int) -> int: ...

    def train(self, x: np.ndarray, y: np.ndarray) -> int: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def model(self) -> Mlp: ...


def inference_macs(arch: Arch) -> int:
    return sum(a * b for a, b in zip(arch.sizes[:-1], arch.sizes[1:], strict=True))


@dataclass
class Outcome:
    R: list[list[float | None]]
    arch: Arch
    replay_bytes: int = 0
    training_macs: int = 0
    growth_steps: int = 0
    samples_trained: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    archs: list[str] = field(default_factory=list)  # the model after each task
    accuracy: float = 0.0  # final, over every test sample of every task

    @property
    def average_per_task(self) -> list[float]:
        """Average accuracy over the tasks seen after each task (the report's curve)."""
        return [float(np.mean([v for v in row[: i + 1] if v is not None]))
                for i, row in enumerate(self.R)]


class TwinLearner:
    """The device's schedule on the numpy twin: exact=True agrees with the device bit for bit
    (slow, per-column sums); exact=False uses BLAS (1e-7 relative rounding differences)."""

    def __init__(self, params: TrainParams, quant: Quantization | None = None, *,
                 exact: bool = False) -> None:
        self.params, self.quant, self.exact = params, quant, exact
        self.net: Mlp | None = None
        self.memory: ReplayMemory | None = None

    def _q(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return x if self.quant is None else self.quant.dequantize(self.quant.quantize(x))

    def _m(self) -> Mlp:
        if self.net is None:
            raise RuntimeError("start() first")
        return self.net

    def start(self, arch: Arch, max_arch: Arch, replay_capacity: int, blob: bytes) -> int:
        self.net = Mlp.from_blob(blob, self.params, exact=self.exact)
        self.memory = None
        return 0

    def grow(self, to: Arch, seed: int) -> int:
        return self._m().grow(to, seed).arch.n_params

    def load_replay(self, x: np.ndarray, y: np.ndarray, ratio: int) -> int:
        self.memory = ReplayMemory.build(x, y, ratio, self.quant)
        return self.memory.nbytes

    def train(self, x: np.ndarray, y: np.ndarray) -> int:
        net, macs = self._m(), 0
        for xi, yi in zip(self._q(x), y, strict=True):
            r = net.train_step(xi, int(yi))
            macs += r.macs_forward + r.macs_backward
            if self.memory is not None:
                for s in self.memory.steps(net):
                    macs += s.macs_forward + s.macs_backward
        return macs

    def predict(self, x: np.ndarray) -> np.ndarray:
        net, xq = self._m(), self._q(x)
        if self.exact:  # one by one: the batch path sums with BLAS
            return np.array([int(net.predict(xi)) for xi in xq], np.int64)
        return net.predict(xq)

    def model(self) -> Mlp:
        return self._m()


def _hidden_grown(arch: Arch, grow_by: int, max_hidden: int) -> Arch | None:
    hidden = arch.sizes[1:-1]
    wider = tuple(min(max_hidden, h + grow_by) for h in hidden)
    if wider == hidden:
        return None
    return Arch((arch.sizes[0], *wider, arch.sizes[-1]))


def max_arch(spec: ContinualSpec, seq: TaskSequence, start: Arch) -> Arch:
    hidden = start.sizes[1:-1]
    if spec.max_hidden is not None:
        hidden = tuple(max(h, spec.max_hidden) for h in hidden)
    return Arch((start.sizes[0], *hidden, seq.outputs[-1]))


def _row(learner: Learner, seq: TaskSequence, t: int) -> tuple[list[float | None], float]:
    """R[t][:] and the accuracy on all seen test samples; class-incremental: future tasks None."""
    row: list[float | None] = []
    hits = total = 0
    for j, task in enumerate(seq.tasks):
        if seq.class_incremental and j > t:
            row.append(None)
            continue
        pred = learner.predict(task.x_test)
        ok = int(np.sum(pred == task.y_test))
        row.append(ok / len(task.y_test) if len(task.y_test) else float("nan"))
        if j <= t:
            hits, total = hits + ok, total + len(task.y_test)
    return row, hits / total if total else float("nan")


def run_schedule(learner: Learner, seq: TaskSequence, spec: ContinualSpec, start: Arch,
                 base_blob: bytes, *, seed: int, encoding: str = "float32",
                 decide: Decide | None = None, on_row: Callable[[int, list[float | None]], None]
                 | None = None) -> Outcome:
    """The whole schedule on `learner`, from task 0's base weights (arch `start`)."""
    note: Decide = decide or (lambda **_: None)
    memory = replay_samples(spec, seq, encoding)
    top = max_arch(spec, seq, start)
    capacity = memory * distill.sample_bytes(seq.n_features, encoding)
    arena = learner.start(start, top, capacity, base_blob)
    note(task=0, action="start", arch=str(start), max_arch=str(top), replay_capacity=capacity,
         arena_bytes=arena)
    arch = start
    first, acc0 = _row(learner, seq, 0)
    out = Outcome([first], start, archs=[str(start)])
    note(task=0, action="evaluate", accuracy_seen=acc0, row=first)
    if on_row is not None:
        on_row(0, first)
    method = spec.method
    for t in range(1, len(seq.tasks)):
        task = seq.tasks[t]
        if seq.outputs[t] != arch.sizes[-1]:
            arch = Arch((*arch.sizes[:-1], seq.outputs[t]))
            params = learner.grow(arch, seed * 1000 + t)
            note(task=t, action="grow_outputs", arch=str(arch), params=params)
        if method is not None:
            x_old, y_old = seq.seen_train(t)
            k = distill.per_class(len(np.unique(y_old)), seq.n_features, samples=memory)
            rs = distill.build(method, x_old, y_old, k, seed=seed,
                               model=learner.model() if method == "herding" else None,
                               dm=distill.DmParams(iterations=spec.distill_iterations))
            nbytes = learner.load_replay(rs.x, rs.y, spec.ratio)
            out.replay_bytes = max(out.replay_bytes, nbytes)
            note(task=t, action="load_replay", method=spec.replay, samples=len(rs.y),
                 per_class=k, bytes=nbytes, cached=rs.cached)
        attempt = 0
        while True:
            rng = np.random.default_rng([seed, t, attempt])
            order = np.concatenate([rng.permutation(len(task.y_train)) for _ in range(spec.epochs)])
            out.training_macs += learner.train(task.x_train[order], task.y_train[order])
            out.samples_trained += len(order)
            row, acc = _row(learner, seq, t)
            note(task=t, action="train", attempt=attempt, samples=len(order), arch=str(arch),
                 accuracy_seen=acc, row=row)
            if not spec.grows:
                break
            assert spec.accuracy_standard is not None and spec.grow_by and spec.max_hidden
            if acc >= spec.accuracy_standard:
                note(task=t, action="keep", why=f"accuracy {acc:.4f} >= standard "
                                                f"{spec.accuracy_standard:g}")
                break
            wider = _hidden_grown(arch, spec.grow_by, spec.max_hidden)
            if wider is None:
                note(task=t, action="keep", why=f"accuracy {acc:.4f} < standard "
                                                f"{spec.accuracy_standard:g}, but the hidden "
                                                f"layers are at max_hidden {spec.max_hidden}")
                break
            arch = wider
            params = learner.grow(arch, seed * 1000 + 100 * t + attempt + 1)
            out.growth_steps += 1
            attempt += 1
            note(task=t, action="grow_hidden", arch=str(arch), params=params,
                 why=f"accuracy {acc:.4f} < standard {spec.accuracy_standard:g}")
        out.R.append(row)
        out.archs.append(str(arch))
        if on_row is not None:
            on_row(t, row)
    out.arch = arch
    # the last row already scored every test sample: no second pass over the link
    sizes = [len(k.y_test) for k in seq.tasks]
    out.accuracy = sum(round(float(v or 0.0) * n) for v, n in zip(out.R[-1], sizes, strict=True)) / sum(sizes)
    return out


# -- host twin: base model of task 0 and the joint reference, cached -----------------

def _cache(kind: str, key: str) -> Path:
    from hil_service.base_models import cache_dir

    return cache_dir() / kind / key


def _key(*parts: Any, arrays: tuple[np.ndarray, ...] = ()) -> str:
    from hil_service.base_models import _code_hash

    h = hashlib.sha256(json.dumps([*parts, _code_hash()], sort_keys=True, default=str).encode())
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:  # write then rename: a parallel run never reads half a file
        f.write(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Recipe:
    epochs: int
    learning_rate: float
    seed: int


def pretrain_base(seq: TaskSequence, hidden: tuple[int, ...], r: Recipe) -> tuple[Arch, bytes, bool]:
    """Task 0's base model (its classes only), pretrained on the twin; (arch, blob, cached)."""
    t0 = seq.tasks[0]
    arch = Arch((seq.n_features, *hidden, seq.outputs[0]))
    path = _cache("continual", _key("base", arch.sizes, r, arrays=(t0.x_train, t0.y_train)) + ".blob")
    if path.is_file():
        return arch, path.read_bytes(), True
    model = Mlp(arch, TrainParams(Strategy.FULL, learning_rate=r.learning_rate)).init_weights(r.seed)
    model.fit(t0.x_train, t0.y_train, epochs=r.epochs, shuffle_seed=ORDER_SEED)
    blob = model.to_blob()
    _write(path, blob)
    return arch, blob, False


def joint_accuracy(seq: TaskSequence, arch: Arch, r: Recipe) -> float:
    """The upper bound: `arch` trained on every task's data at once on the twin (the base
    model's recipe), scored as average_accuracy is."""
    x, y = seq.all_train()
    path = _cache("continual", _key("joint", arch.sizes, r, [len(k.y_test) for k in seq.tasks],
                                    arrays=(x, y, *(k.x_test for k in seq.tasks))) + ".json")
    if path.is_file():
        return float(json.loads(path.read_text())["joint_accuracy"])
    model = Mlp(arch, TrainParams(Strategy.FULL, learning_rate=r.learning_rate)).init_weights(r.seed)
    model.fit(x, y, epochs=r.epochs, shuffle_seed=ORDER_SEED)
    row: list[float | None] = [model.accuracy(k.x_test, k.y_test) for k in seq.tasks]
    acc = average_accuracy([row] * len(row))
    _write(path, json.dumps({"joint_accuracy": acc}).encode())
    return acc
