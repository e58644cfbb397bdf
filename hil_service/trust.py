"""Trust metrics: what adapting on the device cost the model it started from.

A product team watching devices learn asks three things of every adapted model
(issue 13): does it still know what it knew (`source_accuracy_after`: accuracy
on the original, unshifted test split, the "model loss"), and does the product
still behave as it did (`negative_flip_rate`: share of reference samples the
base model got right and the adapted model gets wrong; `prediction_churn`:
share whose prediction changed at all). The reference set is the source test
split: the test samples without the plan's domain shift.

Base predictions are the device's own, exactly: without a shift the source
split is the test split, and the EVALUATE the workflow makes with the base
weights anyway gives them. With a shift they come from the host twin in the C
core's arithmetic (`twin_predict`: the float32 operations in the core's order,
inputs through the same int8 round trip), which is bit-exact to the firmware
(the golden tests in tests/firmware check it) - and each run checks that again:
the twin must give the device's own answer on every sample of the test split the
device just evaluated with the same base weights, else the device evaluates the
source split itself. So a flip is always a change of the model, never a rounding
difference between two implementations, and the base side costs no device time.
The adapted model's predictions are the device's: the EVALUATE after training
(no shift) or one EVALUATE of the source split (shift).

Group (federated) runs end with one global model aggregated on the host and
evaluated by the host twin; their trust figures compare that global model with
the base, both with `twin_predict` (the model the members end with is the
global one, so per-member figures would all be the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hil_service.expectations import MetricInfo

if TYPE_CHECKING:
    from hil_service.base_models import PreparedData
    from hil_service.device import Device, Evaluation
    from hil_service.protocol import Quantization

__all__ = ["TRUST_METRICS", "SourceProbe", "TrustFigures", "source_split", "trust_figures",
           "twin_figures", "twin_predict"]

TRUST_METRICS: Mapping[str, MetricInfo] = {
    "source_accuracy_after": MetricInfo(
        "ratio", "accuracy on the unshifted (source) test split after adaptation: what the model "
        "still knows of the base domain", better="higher"),
    "source_accuracy_before": MetricInfo(
        "ratio", "the same with the base weights, before adaptation", better="higher"),
    "negative_flip_rate": MetricInfo(
        "ratio", "share of the source test split the base model classified right and the adapted "
        "model gets wrong", better="lower"),
    "prediction_churn": MetricInfo(
        "ratio", "share of the source test split whose predicted class changed by adaptation",
        better="lower"),
}


@dataclass(frozen=True)
class TrustFigures:
    source_accuracy_before: float
    source_accuracy_after: float
    negative_flip_rate: float
    prediction_churn: float
    samples: int

    def metrics(self) -> dict[str, float | None]:
        return {"source_accuracy_before": self.source_accuracy_before,
                "source_accuracy_after": self.source_accuracy_after,
                "negative_flip_rate": self.negative_flip_rate,
                "prediction_churn": self.prediction_churn}


def trust_figures(y: np.ndarray, base_pred: np.ndarray, adapted_pred: np.ndarray) -> TrustFigures:
    """The trust figures of an adapted model against its base on one labelled reference set."""
    y, base, adapted = (np.asarray(a).astype(np.int64).ravel() for a in (y, base_pred, adapted_pred))
    if not len(y) == len(base) == len(adapted):
        raise ValueError(f"{len(y)} labels, {len(base)} base and {len(adapted)} adapted predictions")
    if not len(y):
        raise ValueError("an empty reference set has no trust figures")
    base_right = base == y
    adapted_right = adapted == y
    n = float(len(y))
    return TrustFigures(float(base_right.sum() / n), float(adapted_right.sum() / n),
                        float((base_right & ~adapted_right).sum() / n),
                        float((base != adapted).sum() / n), len(y))


def source_split(data: PreparedData) -> tuple[np.ndarray, np.ndarray, bool]:
    """(x, y, same as the test split) of the source (unshifted) test split."""
    sc = data.scenario
    x = sc.x_test_base_domain
    return x, sc.y_test, bool(x.shape == sc.x_test.shape and np.array_equal(x, sc.x_test))


def twin_predict(blob: bytes, x: np.ndarray, quant: Quantization | None = None) -> np.ndarray:
    """The classes the device predicts for x with these weights, computed on the host.

    The C core's float32 arithmetic in its order (hil_service/reference/mlp.py, exact
    mode: inputs in index order, no FMA, ReLU, argmax of the logits), over a batch at
    once: each sample sees the same float32 operations in the same order as one
    `Mlp(exact=True).predict` of it, so the answer is the same bit for bit. Inputs go
    through the int8 round trip the device decodes when the stream is quantized.
    """
    from hil_service.reference import Mlp

    model = Mlp.from_blob(blob)
    a = np.asarray(x, np.float32)
    if quant is not None:
        a = quant.dequantize(quant.quantize(a))
    for i, ly in enumerate(model.layers):
        acc = np.zeros((len(a), ly.w.shape[0]), np.float32)
        for j in range(ly.w.shape[1]):
            acc += a[:, j, None] * ly.w[None, :, j]
        a = acc + ly.b
        if i + 1 < len(model.layers):
            a = np.where(a < 0, np.float32(0.0), a).astype(np.float32)
    predicted: np.ndarray = np.argmax(a, axis=-1).astype(np.int64)
    return predicted


@dataclass(frozen=True)
class SourceProbe:
    """The base model's predictions on the source test split, as the device makes them.

    Use: `probe = SourceProbe.before(dev, data, base_blob, quant, test_eval)` after
    LOAD_WEIGHTS of the base and its EVALUATE of the test split (`test_eval`), before
    training; after training `probe.after(dev, quant, test_eval_after)` gives the
    figures for `ctx.record(**figures.metrics())`. Every workflow that ends with an
    adapted model on one device can do this; `hil_service.workflows.adaptation.adapt`
    does it for the workflows built on it.

    Where the base predictions come from (`how`, journalled): without a shift, from
    `test_eval` itself. With one, from the host twin (`twin_predict`), but only once
    the twin has given the device's own answer on every sample of the test split the
    device just evaluated with the same weights; if it differs on any, the device
    evaluates the source split itself (one more EVALUATE), so a flip is never a
    rounding difference between two implementations.
    """

    x: np.ndarray
    y: np.ndarray
    same_as_test: bool
    base_pred: np.ndarray | None  # None: the data has no source split
    how: str

    @classmethod
    def before(cls, dev: Device, data: PreparedData, base_blob: bytes,
               quant: Quantization | None, test_eval: Evaluation) -> SourceProbe:
        x, y, same = source_split(data)
        if not len(x):
            return cls(x, y, same, None, "none: the data has no unshifted test split")
        if same:
            return cls(x, y, same, test_eval.predictions.predicted, "device: the test split is unshifted")
        sc = data.scenario
        on_device = test_eval.predictions.predicted
        differ = int(np.sum(twin_predict(base_blob, sc.x_test, quant) != on_device))
        if differ == 0:
            return cls(x, y, same, twin_predict(base_blob, x, quant),
                       f"twin: gave the device's answer on all {len(on_device)} test samples")
        return cls(x, y, same, dev.evaluate(x, y, quant=quant).predictions.predicted,
                   f"device: the twin differed on {differ} of {len(on_device)} test samples")

    def after(self, dev: Device, quant: Quantization | None, test_eval: Evaluation) -> TrustFigures | None:
        if self.base_pred is None:
            return None
        evaluation = test_eval if self.same_as_test else dev.evaluate(self.x, self.y, quant=quant)
        return trust_figures(self.y, self.base_pred, evaluation.predictions.predicted)


def twin_figures(base_blob: bytes, adapted_blob: bytes, data: PreparedData) -> TrustFigures | None:
    """Trust figures of a host-side model (a federation's global model) on the host twin."""
    x, y, _ = source_split(data)
    if not len(x):
        return None
    return trust_figures(y, twin_predict(base_blob, x), twin_predict(adapted_blob, x))
