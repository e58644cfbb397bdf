"""The task sequence of a continual run, cut from the plan's scenario.

Class-incremental: task 0 is the base split's samples of the first class group
(the host pretrains on it); task t >= 1 is the stream split's samples of group t
(what the device is shown); each task's test set is the test split's samples of its
classes. Labels are renumbered in task order (output neuron i is the i-th class of
the flattened groups), so the output layer grows by appending neurons.

Domain-incremental: every task has all classes. Task 0 is the base split, task t >= 1
the t-th of T-1 disjoint parts of the stream split (each class dealt round robin),
each seen through its task's shift; task j's test set is the whole test split through
shift j. A plan's scenario.shift applies underneath (to stream and test) as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil_service import datasets, distill
from hil_service.datasets import Scenario
from hil_service.workflows.base import PlanMismatch
from hil_service.workflows.continual_spec import ContinualSpec, DomainTask

__all__ = ["Task", "TaskSequence", "blend_shift", "build_tasks", "replay_samples"]

F32 = np.float32


@dataclass(frozen=True)
class Task:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray  # output indices
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class TaskSequence:
    tasks: tuple[Task, ...]
    class_incremental: bool
    #: output neurons after each task (class-incremental: the classes seen so far)
    outputs: tuple[int, ...]
    #: original class id of each output neuron
    classes: tuple[int, ...]
    #: samples of the training splits (base + stream): what a `fraction` budget is of
    n_train_pool: int
    n_features: int

    def seen_train(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The training data of tasks 0..t-1 (what a replay memory for task t stands for)."""
        old = self.tasks[:t]
        return (np.concatenate([k.x_train for k in old]),
                np.concatenate([k.y_train for k in old]))

    def all_train(self) -> tuple[np.ndarray, np.ndarray]:
        return self.seen_train(len(self.tasks))


def blend_shift(name: str, strength: float, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """x + strength * (shift(x) - x), float32."""
    x = np.asarray(x, F32)
    if name == "none" or strength == 0:
        return x
    shifted = datasets.apply_shift(name, x, shape)
    out: np.ndarray = (x + F32(strength) * (shifted - x)).astype(F32)
    return out


def _class_tasks(spec: ContinualSpec, sc: Scenario) -> TaskSequence:
    groups = [tuple(int(c) for c in g) for g in spec.tasks if not isinstance(g, DomainTask)]
    order = [c for g in groups for c in g]
    lut = np.full(256, -1, np.int64)
    lut[order] = np.arange(len(order))
    tasks = []
    for t, group in enumerate(groups):
        xs, ys = (sc.x_base, sc.y_base) if t == 0 else (sc.x_stream, sc.y_stream)
        tr, te = np.isin(ys, group), np.isin(sc.y_test, group)
        tasks.append(Task(f"classes {','.join(map(str, group))}", xs[tr], lut[ys[tr]],
                          sc.x_test[te], lut[sc.y_test[te]]))
    outputs = tuple(int(n) for n in np.cumsum([len(g) for g in groups]))
    return TaskSequence(tuple(tasks), True, outputs, tuple(order),
                        len(sc.x_base) + len(sc.x_stream), sc.x_base.shape[1])


def _domain_tasks(spec: ContinualSpec, sc: Scenario, n_classes: int,
                  shape: tuple[int, int]) -> TaskSequence:
    doms = [d for d in spec.tasks if isinstance(d, DomainTask)]
    parts = len(doms) - 1
    chunk = np.zeros(len(sc.y_stream), np.int64)
    for c in np.unique(sc.y_stream):
        idx = np.flatnonzero(sc.y_stream == c)
        chunk[idx] = np.arange(len(idx)) % parts
    tasks = []
    for t, d in enumerate(doms):
        if t == 0:
            x, y = sc.x_base, sc.y_base
        else:
            x, y = sc.x_stream[chunk == t - 1], sc.y_stream[chunk == t - 1]
        name = d.shift if d.strength == 1 else f"{d.shift} {d.strength:g}"
        tasks.append(Task(name, blend_shift(d.shift, d.strength, x, shape), y,
                          blend_shift(d.shift, d.strength, sc.x_test, shape), sc.y_test))
    return TaskSequence(tuple(tasks), False, (n_classes,) * len(doms), tuple(range(n_classes)),
                        len(sc.x_base) + len(sc.x_stream), sc.x_base.shape[1])


def build_tasks(spec: ContinualSpec, sc: Scenario, n_classes: int,
                image_shape: tuple[int, int]) -> TaskSequence:
    """The run's tasks; PlanMismatch when the data cannot give them."""
    where = "continual.tasks"
    if spec.class_incremental:
        groups = [g for g in spec.tasks if not isinstance(g, DomainTask)]
        for t, group in enumerate(groups):
            missing = [c for c in group if c >= n_classes]
            if missing:
                raise PlanMismatch(f"{where}: task {t} names class {missing[0]}; the data set has "
                                   f"classes 0..{n_classes - 1}")
            pool = sc.y_base if t == 0 else sc.y_stream
            empty = [c for c in group if not np.any(pool == c)]
            if empty:
                split = "base" if t == 0 else "stream"
                raise PlanMismatch(f"{where}: task {t}'s class {empty[0]} has no samples in the "
                                   f"{split} split")
        return _class_tasks(spec, sc)
    parts = len(spec.tasks) - 1
    if len(sc.y_stream) < parts:
        raise PlanMismatch(f"{where}: {parts} domain tasks after the base need at least {parts} "
                           f"stream samples, the stream split has {len(sc.y_stream)}")
    shifts = {d.shift for d in spec.tasks if isinstance(d, DomainTask)}
    if shifts - {"none", "sensor_offset"} and image_shape[0] * image_shape[1] != sc.x_base.shape[1]:
        raise PlanMismatch(f"{where}: shift {sorted(shifts - {'none', 'sensor_offset'})[0]} moves "
                           f"an image, and this data set's {sc.x_base.shape[1]} features are no "
                           f"{image_shape[0]}x{image_shape[1]} image")
    return _domain_tasks(spec, sc, n_classes, image_shape)


def replay_samples(spec: ContinualSpec, seq: TaskSequence, encoding: str) -> int:
    """The memory's size in samples for the run's budget (0 without replay)."""
    b = spec.budget
    if b is None:
        return 0
    if b.samples is not None:
        return b.samples
    if b.bytes is not None:
        return b.bytes // distill.sample_bytes(seq.n_features, encoding)
    assert b.fraction is not None
    return int(b.fraction * seq.n_train_pool)


def check_replay_fits(spec: ContinualSpec, seq: TaskSequence, encoding: str) -> None:
    """Every task's memory holds one sample a class, and no class is asked for more than it has."""
    total = replay_samples(spec, seq, encoding)
    if spec.budget is None:
        return
    for t in range(1, len(seq.tasks)):
        _, y = seq.seen_train(t)
        classes, counts = np.unique(y, return_counts=True)
        k = total // len(classes)
        if k < 1:
            raise PlanMismatch(f"continual.budget: {total} replay samples cannot hold one sample for "
                               f"each of the {len(classes)} classes seen before task {t}")
        small = counts < k
        if np.any(small):
            c = int(classes[np.argmax(small)])
            raise PlanMismatch(f"continual.budget: {k} replay samples a class before task {t}, but "
                               f"class {seq.classes[c]} has only {int(counts[np.argmax(small)])} "
                               f"training samples")
