"""Dense MLP with the C core's math (firmware_zephyr/core), in numpy float32.

Two summation modes:
- exact=True repeats the core's order of float32 additions (index order, no
  FMA) and its exp (fastmath.exp, bit for bit), so C and twin agree to the
  last ulp that logf (the reported loss only) may differ by; the golden tests
  use it.
- exact=False uses BLAS matrix products: same math, faster, with rounding
  differences of order 1e-7 relative; pretraining uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from hil_service import wire_gen
from hil_service.reference import fastmath, q8
from hil_service.reference.blob import param_count, read_blob, write_blob
from hil_service.reference.rng import XorShift32
from hil_service.reference.uncertainty import ScoreKind, confident, score, selects
from hil_service.wire_schema import check_train_params

F32 = np.float32
MAX_LAYERS = 4
MAX_INPUTS = 1024
MAX_NEURONS = 256


class Strategy(IntEnum):
    FULL = 0
    LAST_LAYER = 1
    TINYPROP = 2
    LAST_LAYER_Q8 = 3  # hidden layers in int8 (reference/q8.py), output layer learns


class StepOutcome(IntEnum):
    TRAINED = 0
    SKIPPED = 1
    NOT_SELECTED = 2
    NOT_CONFIDENT = 3  # unlabelled step: not certain enough for a pseudo label


@dataclass(frozen=True)
class Arch:
    """sizes[0] features, hidden widths, sizes[-1] classes."""

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        n = len(self.sizes) - 1
        if not 1 <= n <= MAX_LAYERS:
            raise ValueError(f"architecture {self.sizes}: 1..{MAX_LAYERS} dense layers, got {n}")
        if not 1 <= self.sizes[0] <= MAX_INPUTS:
            raise ValueError(f"architecture {self.sizes}: 1..{MAX_INPUTS} inputs")
        if any(not 1 <= s <= MAX_NEURONS for s in self.sizes[1:]) or self.sizes[-1] < 2:
            raise ValueError(f"architecture {self.sizes}: layer widths 1..{MAX_NEURONS}, at least 2 classes")

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return param_count(self.sizes)

    def __str__(self) -> str:
        return "-".join(map(str, self.sizes))


@dataclass(frozen=True)
class TrainParams:
    """Mirror of odl_train_params_t with the same defaults and ranges."""

    strategy: Strategy = Strategy.FULL
    learning_rate: float = 0.01
    momentum: float = 0.0
    s_min: float = 0.1
    s_max: float = 0.9
    zeta: float = 0.5
    gate_threshold: float = 0.0
    select_score: ScoreKind = ScoreKind.NONE
    select_threshold: float = 0.0
    # unlabelled steps: pseudo label = the prediction when confident() under these
    pseudo_score: ScoreKind = ScoreKind.NONE
    pseudo_threshold: float = 0.0
    # L2-SP: penalty l2sp_lambda * |W - W0|^2, W0 = the weights last set (0 = off)
    l2sp_lambda: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "select_score", ScoreKind(self.select_score))
        object.__setattr__(self, "pseudo_score", ScoreKind(self.pseudo_score))
        # the device's ranges, from the wire table (ParamRangeError is a ValueError)
        check_train_params(wire_gen.PARAMS, wire_gen.CONSTRAINTS,
                           {name: getattr(self, name) for name in wire_gen.PARAMS})


@dataclass
class StepResult:
    outcome: StepOutcome
    predicted: int
    loss: float
    error: float
    score: float
    k: tuple[int, ...]
    selected: tuple[np.ndarray, ...]  # rows given gradients per layer, rank order
    macs_forward: int
    macs_backward: int
    macs_backward_full: int


@dataclass
class _Layer:
    w: np.ndarray  # (n_out, n_in)
    b: np.ndarray  # (n_out,)
    vw: np.ndarray | None = None
    vb: np.ndarray | None = None
    y_max: np.float32 = field(default_factory=lambda: F32(0.0))
    w0: np.ndarray | None = None  # L2-SP anchor, set with the weights
    b0: np.ndarray | None = None


class Mlp:
    def __init__(self, arch: Arch, params: TrainParams | None = None, *, exact: bool = False) -> None:
        self.arch = arch
        self.params = params
        self.exact = exact
        self.layers = [
            _Layer(np.zeros((n_out, n_in), F32), np.zeros(n_out, F32))
            for n_in, n_out in zip(arch.sizes[:-1], arch.sizes[1:], strict=True)
        ]
        self._reset_training_state()

    # -- weights ---------------------------------------------------------
    def init_weights(self, seed: int) -> Mlp:
        """He-uniform weights from the core's xorshift32 stream; zero biases."""
        rng = XorShift32(seed)
        for ly in self.layers:
            n_out, n_in = ly.w.shape
            limit = np.sqrt(F32(6.0) / F32(n_in), dtype=F32)
            u = rng.uniform(n_out * n_in)
            ly.w[...] = ((F32(2.0) * u - F32(1.0)) * limit).reshape(n_out, n_in)
            ly.b[...] = 0
        self._reset_training_state()
        return self

    def get_params(self) -> np.ndarray:
        """Flat float32 parameters in blob order (per layer W row-major, then b)."""
        return np.concatenate([np.concatenate([ly.w.ravel(), ly.b]) for ly in self.layers])

    def set_params(self, flat: np.ndarray) -> None:
        flat = np.asarray(flat, dtype=F32).ravel()
        if flat.size != self.arch.n_params:
            raise ValueError(f"{flat.size} parameters for {self.arch}, expected {self.arch.n_params}")
        off = 0
        for ly in self.layers:
            n = ly.w.size
            ly.w[...] = flat[off : off + n].reshape(ly.w.shape)
            off += n
            ly.b[...] = flat[off : off + ly.b.size]
            off += ly.b.size
        self._reset_training_state()

    def to_blob(self) -> bytes:
        return write_blob(self.arch.sizes, self.get_params())

    @classmethod
    def from_blob(cls, blob: bytes, params: TrainParams | None = None, *, exact: bool = False) -> Mlp:
        sizes, flat = read_blob(blob)
        model = cls(Arch(sizes), params, exact=exact)
        model.set_params(flat)
        return model

    def copy(self, params: TrainParams | None = None) -> Mlp:
        twin = Mlp(self.arch, params if params is not None else self.params, exact=self.exact)
        twin.set_params(self.get_params())
        return twin

    def grow(self, to: Arch, seed: int) -> Mlp:
        """Function-preserving growth to `to`, as odl_model_grow() does it (odl_grow.h):
        new hidden neurons get He-uniform incoming weights from the xorshift32 stream
        of seed (layer by layer, new rows row-major) and zero outgoing weights; new
        classes get zero weights and bias. Momentum and TinyProp state restart."""
        old = self.arch
        if to.n_layers != old.n_layers or to.sizes[0] != old.sizes[0]:
            raise ValueError(f"cannot grow {old} to {to}: depth and inputs must stay")
        if any(n < o for n, o in zip(to.sizes, old.sizes, strict=True)):
            raise ValueError(f"cannot grow {old} to {to}: a layer would shrink")
        rng = XorShift32(seed)
        layers = []
        for i, ly in enumerate(self.layers):
            n_in, n_out = to.sizes[i], to.sizes[i + 1]
            o_out, o_in = ly.w.shape
            w = np.zeros((n_out, n_in), F32)
            b = np.zeros(n_out, F32)
            w[:o_out, :o_in] = ly.w
            b[:o_out] = ly.b
            if i + 1 < len(self.layers) and n_out > o_out:
                limit = np.sqrt(F32(6.0) / F32(n_in), dtype=F32)
                u = rng.uniform((n_out - o_out) * n_in)
                w[o_out:] = ((F32(2.0) * u - F32(1.0)) * limit).reshape(n_out - o_out, n_in)
            layers.append(_Layer(w, b))
        self.arch, self.layers = to, layers
        self._reset_training_state()
        return self

    def _reset_training_state(self) -> None:
        # last_layer_q8's int8 copy of the hidden layers, made with every new weights
        self._q8: list[q8.QLayer] | None = None
        if self.params is not None and self.params.strategy == Strategy.LAST_LAYER_Q8 and len(self.layers) > 1:
            self._q8 = q8.quantize_hidden([(ly.w, ly.b) for ly in self.layers[:-1]])
        momentum = self.params is not None and self.params.momentum > 0
        anchored = self.params is not None and self.params.l2sp_lambda > 0
        for ly in self.layers:
            ly.y_max = F32(0.0)
            ly.vw = np.zeros_like(ly.w) if momentum else None
            ly.vb = np.zeros_like(ly.b) if momentum else None
            # new weights are the new L2-SP anchor (odl_model_reset_training_state)
            ly.w0 = ly.w.copy() if anchored else None
            ly.b0 = ly.b.copy() if anchored else None

    # -- forward ---------------------------------------------------------
    def _dense(self, ly: _Layer, a: np.ndarray) -> np.ndarray:
        if not self.exact:
            fast: np.ndarray = (ly.w @ a).astype(F32) + ly.b
            return fast
        acc = np.zeros(ly.w.shape[0], F32)
        for j in range(ly.w.shape[1]):
            acc += ly.w[:, j] * a[j]
        z: np.ndarray = acc + ly.b
        return z

    def _activations(self, x: np.ndarray) -> list[np.ndarray]:
        """One sample in the core's exact order: [x, hidden..., logits]."""
        acts = [x]
        start = 0
        if self._q8 is not None:
            # only the output layer's input is used again (the update)
            acts += [np.zeros(0, F32)] * (len(self._q8) - 1) + [q8.hidden_forward(self._q8, x)[0]]
            start = len(self._q8)
        for i, ly in enumerate(self.layers[start:], start):
            z = self._dense(ly, acts[-1])
            if i + 1 < len(self.layers):
                z = np.where(z < 0, F32(0.0), z).astype(F32)
            acts.append(z)
        return acts

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Activations: [x, hidden..., probabilities]."""
        acts = self._activations(x)
        z = acts[-1]
        # exact: the core's own exp, bit for bit; otherwise numpy's, so base models
        # pretrained here do not move with the device's exp approximation
        e = fastmath.exp(z - z.max()) if self.exact else np.exp(z - z.max()).astype(F32)
        acts[-1] = e / np.cumsum(e, dtype=F32)[-1]
        return acts

    def _batch_logits(self, x: np.ndarray) -> np.ndarray:
        """Logits with numpy's matrix products (a batch, or a sample outside exact mode);
        last_layer_q8's hidden layers in int8 as in the core."""
        a, start = x, 0
        if self._q8 is not None:
            a, start = q8.hidden_forward(self._q8, x), len(self._q8)
        for i, ly in enumerate(self.layers[start:], start):
            a = (a @ ly.w.T).astype(F32) + ly.b
            if i + 1 < len(self.layers):
                a = np.maximum(a, F32(0.0))
        return a

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of one sample (n_in,) or a batch (n, n_in)."""
        x = _check_input(x, self.arch.sizes[0])
        if x.ndim == 1:
            return self._forward(x)[-1]
        a = self._batch_logits(x)
        a = a - a.max(axis=1, keepdims=True)
        e = fastmath.exp(a) if self.exact else np.exp(a)
        probs: np.ndarray = (e / e.sum(axis=1, keepdims=True)).astype(F32)
        return probs

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes: argmax of the logits, as odl_model_predict() without
        probabilities does (no softmax, so rounding in exp cannot merge two classes)."""
        x = _check_input(x, self.arch.sizes[0])
        if x.ndim == 1 and self.exact:
            one: np.ndarray = np.argmax(self._activations(x)[-1], axis=-1)
            return one
        classes: np.ndarray = np.argmax(self._batch_logits(x), axis=-1)
        return classes

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))

    # -- training --------------------------------------------------------
    def train_step(self, x: np.ndarray, label: int) -> StepResult:
        """One online step, as odl_train_step() does it."""
        n_classes = self.arch.sizes[-1]
        if not 0 <= label < n_classes:
            raise ValueError(f"label {label} out of range 0..{n_classes - 1}")
        return self._step(x, label)

    def train_step_unlabelled(self, x: np.ndarray) -> StepResult:
        """One step without a label, as odl_train_step_unlabelled() does it: the
        prediction becomes the label when the pseudo score is confident() under
        pseudo_threshold (result.predicted is that pseudo label); otherwise the
        outcome is NOT_CONFIDENT and nothing is learnt."""
        return self._step(x, None)

    def train_unlabelled(self, x: np.ndarray) -> np.ndarray:
        """Unlabelled samples in order, as the device's unlabelled TRAIN runs them:
        int16 pseudo label per sample, -1 where it was not confident (not trained)."""
        x = _check_input(np.atleast_2d(x), self.arch.sizes[0])
        out = np.full(len(x), -1, np.int16)
        for i, xi in enumerate(x):
            r = self._step(xi, None)
            if r.outcome != StepOutcome.NOT_CONFIDENT:
                out[i] = r.predicted
        return out

    def _step(self, x: np.ndarray, label: int | None) -> StepResult:
        p = self.params
        if p is None:
            raise RuntimeError("model has no training parameters (inference only)")
        x = _check_input(x, self.arch.sizes[0])
        acts = self._forward(x)
        probs = acts[-1]
        n_layers = len(self.layers)
        macs_fwd = sum(ly.w.size for ly in self.layers)
        macs_full = sum(ly.w.size * (2 if i > 0 else 1) for i, ly in enumerate(self.layers))
        predicted = int(np.argmax(probs))
        empty = tuple(np.zeros(0, np.int64) for _ in self.layers)
        if label is None:
            if not confident(p.pseudo_score, float(score(probs, p.pseudo_score)), p.pseudo_threshold):
                return StepResult(StepOutcome.NOT_CONFIDENT, predicted, 0.0, 0.0, 0.0,
                                  (0,) * n_layers, empty, macs_fwd, 0, macs_full)
            label = predicted
        loss = float(-np.log(max(probs[label], F32(1e-30)), dtype=F32))
        error = F32(1.0) - probs[label]
        sc = score(probs, p.select_score) if p.select_score != ScoreKind.NONE else F32(0.0)

        def result(outcome: StepOutcome, k: Sequence[int] = (0,) * n_layers,
                   sel: tuple[np.ndarray, ...] = empty, macs_bwd: int = 0) -> StepResult:
            return StepResult(outcome, predicted, loss, float(error), float(sc), tuple(k), sel,
                              macs_fwd, macs_bwd, macs_full)

        if p.select_score != ScoreKind.NONE and not selects(p.select_score, float(sc), p.select_threshold):
            return result(StepOutcome.NOT_SELECTED)
        if error < F32(p.gate_threshold):
            return result(StepOutcome.SKIPPED)

        lowest = n_layers - 1 if p.strategy in (Strategy.LAST_LAYER, Strategy.LAST_LAYER_Q8) else 0
        delta = probs.copy()
        delta[label] -= F32(1.0)
        ks = [0] * n_layers
        sels: list[np.ndarray] = list(empty)
        macs_bwd = 0
        lr, mom = F32(p.learning_rate), F32(p.momentum)
        # L2-SP (odl_backprop.c sgd()): l2 = 2 lambda into the velocity, or c = lr l2
        # as its own step before the data gradient's
        l2 = F32(F32(2.0) * F32(p.l2sp_lambda))
        c = F32(lr * l2)
        for li in range(n_layers - 1, lowest - 1, -1):
            ly = self.layers[li]
            a_in = acts[li]
            n_out, n_in = ly.w.shape
            if p.strategy == Strategy.TINYPROP:
                k = self._tinyprop_k(ly, delta, n_layers - 1 - li)
                rows = np.argsort(-np.abs(delta), kind="stable")[:k]
            else:
                k, rows = n_out, np.arange(n_out)
            ks[li], sels[li] = k, rows
            macs_bwd += k * n_in
            down = None
            if li > lowest:
                if self.exact:
                    down = np.zeros(n_in, F32)
                    for r in rows:
                        down += ly.w[r] * delta[r]
                else:
                    down = (delta[rows] @ ly.w[rows]).astype(F32)
                down = np.where(a_in > 0, down, F32(0.0)).astype(F32)
                macs_bwd += k * n_in
            d_rows = delta[rows]
            if ly.vw is not None:
                assert ly.vb is not None  # allocated together
                v = mom * ly.vw[rows] + d_rows[:, None] * a_in[None, :]
                vb = mom * ly.vb + delta
                if ly.w0 is not None and ly.b0 is not None:
                    v = v + l2 * (ly.w[rows] - ly.w0[rows])
                    vb = vb + l2 * (ly.b - ly.b0)
                ly.vw[rows] = v
                ly.w[rows] -= lr * ly.vw[rows]
                ly.vb[...] = vb
                ly.b[...] -= lr * ly.vb
            else:
                if ly.w0 is not None and ly.b0 is not None:
                    ly.w[rows] -= c * (ly.w[rows] - ly.w0[rows])
                ly.w[rows] -= (lr * d_rows)[:, None] * a_in[None, :]
                if ly.b0 is not None:
                    ly.b[...] -= c * (ly.b - ly.b0)
                ly.b[...] -= lr * delta
            if down is not None:
                delta = down
        return result(StepOutcome.TRAINED, ks, tuple(sels), macs_bwd)

    def _tinyprop_k(self, ly: _Layer, delta: np.ndarray, pos_from_output: int) -> int:
        p = self.params
        assert p is not None
        y = np.cumsum(np.abs(delta), dtype=F32)[-1]
        if y > ly.y_max:
            ly.y_max = y
        damp = F32(1.0)
        for _ in range(pos_from_output):
            damp = F32(damp * F32(p.zeta))
        s_min, s_max = F32(p.s_min), F32(p.s_max)
        frac = F32(F32(y * F32(s_max - s_min)) / ly.y_max) if ly.y_max > 0 else F32(0.0)
        ratio = F32(F32(s_min + frac) * damp)
        n_out = ly.w.shape[0]
        k = int(F32(F32(n_out) * ratio))
        return int(min(max(k, 1), n_out))

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, shuffle_seed: int = 0,
            callback: Callable[[int, Mlp], object] | None = None) -> Mlp:
        """Online SGD over (x, y) for some epochs, shuffled reproducibly each epoch."""
        x = _check_input(x, self.arch.sizes[0])
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} samples but {len(y)} labels")
        order_rng = np.random.default_rng(shuffle_seed)
        for epoch in range(epochs):
            for i in order_rng.permutation(len(x)):
                self.train_step(x[i], int(y[i]))
            if callback is not None:
                callback(epoch, self)
        return self


def _check_input(x: np.ndarray, n_features: int) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    if x.shape[-1] != n_features or x.ndim not in (1, 2):
        raise ValueError(f"input of shape {x.shape}, expected (..., {n_features})")
    if not np.all(np.isfinite(x)):
        raise ValueError("input contains NaN or Inf")
    return x
