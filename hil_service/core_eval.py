"""Host-side evaluation of the C core's strategies on real data.

The same recipes back the accuracy tests and `python -m bench.core`, so a
figure in a test and in the benchmark means the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil_service import datasets
from hil_service.native_core import NativeCore, NativeModel
from hil_service.reference import Arch, Mlp, Strategy, TrainParams

DIGITS_ARCH = Arch((64, 32, 10))
PAPER_ARCH = Arch((784, 32, 16, 10))  # the MNIST MLP of the TinyProp paper

# Online SGD settings of the recipes; chosen once on digits, not per strategy.
LEARNING_RATE = 0.05
EPOCHS = 30
INIT_SEED = 7
SPLIT_SEED = 1
ORDER_SEED = 3


@dataclass(frozen=True)
class RunFigures:
    strategy: str
    accuracy: float
    macs_forward: float   # per training step
    macs_backward: float  # per trained step, averaged
    backward_share: float  # of full backprop's backward MACs
    k_mean: tuple[float, ...]
    arena_bytes_inference: int
    arena_bytes_training: int
    arena_peak: int


def _figures(name: str, core: NativeCore, model: NativeModel, acc: float) -> RunFigures:
    s = model.stats()
    trained = max(s["trained"], 1)
    return RunFigures(
        strategy=name,
        accuracy=acc,
        macs_forward=s["macs_forward"] / max(s["forward_count"], 1),
        macs_backward=s["macs_backward"] / trained,
        backward_share=s["macs_backward"] / max(s["macs_backward_full"], 1),
        k_mean=tuple(k / trained for k in s["k_sum"]),
        arena_bytes_inference=core.arena_bytes(model.arch, None),
        arena_bytes_training=model.arena_size,
        arena_peak=model.arena_peak(),
    )


def train_from_scratch(core: NativeCore, params: TrainParams, arch: Arch = DIGITS_ARCH,
                       dataset: str = "digits", epochs: int = EPOCHS) -> RunFigures:
    """Train from He-initialised weights on 75 % of the data set, test on 25 %."""
    ds = datasets.load(dataset)
    sc = datasets.scenario(ds, base=0.75, stream=0.0, test=0.25, seed=SPLIT_SEED)
    model = NativeModel(core, arch, params).init_weights(INIT_SEED)
    rng = np.random.default_rng(ORDER_SEED)
    for _ in range(epochs):
        order = rng.permutation(len(sc.x_base))
        model.train_sequence(sc.x_base[order], sc.y_base[order])
    acc = model.accuracy(sc.x_test, sc.y_test) if dataset == "digits" else float("nan")
    return _figures(params.strategy.name.lower(), core, model, acc)


@dataclass(frozen=True)
class AdaptationFigures:
    shift: str
    base_accuracy_source: float  # pretrained base on the unshifted test set
    base_accuracy_shifted: float  # the same base on the shifted test set
    adapted_accuracy: float
    stream_samples: int
    run: RunFigures


def pretrain_base(x: np.ndarray, y: np.ndarray, arch: Arch = DIGITS_ARCH, epochs: int = EPOCHS,
                  seed: int = INIT_SEED) -> Mlp:
    """The host's base model: the numpy twin, full backprop, online SGD."""
    return Mlp(arch, TrainParams(Strategy.FULL, learning_rate=LEARNING_RATE)).init_weights(seed).fit(
        x, y, epochs=epochs, shuffle_seed=ORDER_SEED)


def adapt_to_shift(core: NativeCore, params: TrainParams, shift: str = "sensor_offset",
                   stream_samples: int | None = None) -> AdaptationFigures:
    """Pretrain on half of digits in the source domain; adapt on the device's
    shifted stream (a quarter, one pass); test on the shifted last quarter."""
    ds = datasets.load("digits")
    sc = datasets.scenario(ds, base=0.5, stream=0.25, test=0.25, seed=SPLIT_SEED, shift=shift)
    base = pretrain_base(sc.x_base, sc.y_base)
    model = NativeModel(core, base.arch, params)
    model.load_blob(base.to_blob())
    n = len(sc.x_stream) if stream_samples is None else stream_samples
    model.train_sequence(sc.x_stream[:n], sc.y_stream[:n])
    acc = model.accuracy(sc.x_test, sc.y_test)
    return AdaptationFigures(shift, base.accuracy(sc.x_test_base_domain, sc.y_test),
                             base.accuracy(sc.x_test, sc.y_test), acc, n,
                             _figures(params.strategy.name.lower(), core, model, acc))
