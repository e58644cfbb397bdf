"""Trust metrics from hand-made predictions, and the device-side probe with a stand-in
device whose predictions are known (the QEMU chain test runs the real one)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from hil_service.base_models import PreparedData
from hil_service.datasets import Scenario
from hil_service.expectations import catalogue
from hil_service.inventory import load_inventory
from hil_service.plan import load_plan
from hil_service.protocol import Quantization
from hil_service.reference import Arch, Mlp
from hil_service.runner import run_plan
from hil_service.trust import TRUST_METRICS, SourceProbe, trust_figures, twin_figures, twin_predict
from hil_service.workflows import registered


def test_hand_made_predictions() -> None:
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    base = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 0])  # 8 right, 2 wrong
    # sample 0 and 1 flip from right to wrong, 8 is fixed (wrong -> right), 9 changes wrong -> wrong
    adapted = np.array([5, 5, 2, 3, 4, 5, 6, 7, 8, 1])
    f = trust_figures(y, base, adapted)
    assert f.source_accuracy_before == pytest.approx(0.8)
    assert f.source_accuracy_after == pytest.approx(0.7)
    assert f.negative_flip_rate == pytest.approx(0.2)  # samples 0 and 1, over all 10
    assert f.prediction_churn == pytest.approx(0.4)  # 0, 1, 8, 9
    assert f.samples == 10


def test_identical_models_have_no_flips_and_no_churn() -> None:
    y = np.array([1, 2, 3, 1])
    pred = np.array([1, 0, 3, 2])
    f = trust_figures(y, pred, pred.copy())
    assert (f.negative_flip_rate, f.prediction_churn) == (0.0, 0.0)
    assert f.source_accuracy_before == f.source_accuracy_after == 0.5


def test_a_fix_is_churn_but_no_negative_flip() -> None:
    f = trust_figures(np.array([3, 3]), np.array([1, 3]), np.array([3, 3]))
    assert f.negative_flip_rate == 0.0 and f.prediction_churn == 0.5


def test_mismatched_or_empty_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="3 labels, 2 base"):
        trust_figures(np.zeros(3), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        trust_figures(np.zeros(0), np.zeros(0), np.zeros(0))


def test_registered_in_the_catalogue_of_the_adapting_workflows() -> None:
    cat = catalogue()
    for name in TRUST_METRICS:
        assert cat[name].unit == "ratio"
    for wf in ("stream", "active_learning"):
        assert set(TRUST_METRICS) <= set(registered()[wf].metrics)


# -- the twin's predictions and the probe ----------------------------------------------------
def test_twin_predict_is_the_exact_twin_sample_by_sample() -> None:
    rng = np.random.default_rng(5)
    for sizes in ((64, 32, 10), (20, 16, 8, 4)):
        model = Mlp(Arch(sizes), exact=True).init_weights(3)
        x = rng.random((300, sizes[0]), dtype=np.float32)
        one_by_one = np.array([model.predict(row) for row in x])
        assert np.array_equal(twin_predict(model.to_blob(), x), one_by_one)
        quant = Quantization.for_range(0.0, 1.0)
        seen = quant.dequantize(quant.quantize(x))
        assert np.array_equal(twin_predict(model.to_blob(), x, quant),
                              np.array([model.predict(row) for row in seen]))


@dataclass
class _Preds:
    predicted: np.ndarray


@dataclass
class _Eval:
    predictions: _Preds


class _TableDevice:
    """Answers EVALUATE from a table; counts what it was asked."""

    def __init__(self, answer: np.ndarray) -> None:
        self.answer = answer
        self.calls: list[np.ndarray] = []

    def evaluate(self, x: np.ndarray, y: np.ndarray, *, quant: object = None) -> _Eval:
        self.calls.append(x)
        return _Eval(_Preds(self.answer))


def _data(shifted: bool) -> PreparedData:
    rng = np.random.default_rng(1)
    x = rng.random((40, 6), dtype=np.float32)
    xt = np.clip(x * 0.5 + 0.3, 0, 1).astype(np.float32) if shifted else x.copy()
    y = rng.integers(0, 3, 40)
    return PreparedData(Scenario(x, y, x, y, xt, y, x), 6, 3)


BASE = Mlp(Arch((6, 8, 3))).init_weights(4).to_blob()
ADAPTED = Mlp(Arch((6, 8, 3))).init_weights(5).to_blob()


def test_probe_takes_the_twin_once_it_agrees_with_the_device() -> None:
    data = _data(shifted=True)
    sc = data.scenario
    dev = _TableDevice(twin_predict(ADAPTED, sc.x_test_base_domain))
    device_before = _Eval(_Preds(twin_predict(BASE, sc.x_test)))  # the device's own answer
    probe = SourceProbe.before(dev, data, BASE, None, device_before)  # type: ignore[arg-type]
    assert dev.calls == [] and probe.how == "twin: gave the device's answer on all 40 test samples"
    f = probe.after(dev, None, _Eval(_Preds(np.zeros(40, np.int64))))  # type: ignore[arg-type]
    assert len(dev.calls) == 1 and np.array_equal(dev.calls[0], sc.x_test_base_domain)
    want = trust_figures(sc.y_test, twin_predict(BASE, sc.x_test_base_domain),
                         twin_predict(ADAPTED, sc.x_test_base_domain))
    assert f == want and 0 < f.prediction_churn


def test_probe_asks_the_device_when_the_twin_disagrees() -> None:
    data = _data(shifted=True)
    sc = data.scenario
    wrong = twin_predict(BASE, sc.x_test)
    wrong[7] = (wrong[7] + 1) % 3  # one answer the twin does not reproduce
    dev = _TableDevice(np.zeros(40, np.int64))
    probe = SourceProbe.before(dev, data, BASE, None, _Eval(_Preds(wrong)))  # type: ignore[arg-type]
    assert len(dev.calls) == 1 and np.array_equal(dev.calls[0], sc.x_test_base_domain)
    assert probe.how == "device: the twin differed on 1 of 40 test samples"
    assert np.array_equal(probe.base_pred, np.zeros(40, np.int64))


def test_probe_reuses_the_test_evaluations_without_a_shift() -> None:
    data = _data(shifted=False)
    y = data.scenario.y_test
    dev = _TableDevice(np.full(40, 9))
    probe = SourceProbe.before(dev, data, BASE, None, _Eval(_Preds(y.copy())))  # type: ignore[arg-type]
    after = y.copy()
    after[:4] = (after[:4] + 1) % 3
    f = probe.after(dev, None, _Eval(_Preds(after)))  # type: ignore[arg-type]
    assert dev.calls == []  # no device time spent: the test split is the source split
    assert f is not None and f.negative_flip_rate == 0.1 and f.source_accuracy_after == 0.9


def test_twin_figures_of_a_model_against_itself_and_another() -> None:
    data = _data(shifted=False)
    same = twin_figures(BASE, BASE, data)
    assert same is not None and same.prediction_churn == 0.0 and same.negative_flip_rate == 0.0
    other = twin_figures(BASE, ADAPTED, data)
    x = data.scenario.x_test_base_domain
    assert other is not None
    assert other.prediction_churn == pytest.approx(float(np.mean(twin_predict(BASE, x) != twin_predict(ADAPTED, x))))


INT8_PLAN = """\
name: int8
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.1, seed: 1, shift: sensor_offset}
base_model: {hidden: [16], epochs: 5, seed: 7}
strategies:
  - name: ll
    strategy: last_layer
    stream: {samples: 32, encoding: int8}
    expect: {source_accuracy_after: ">= 0.5", negative_flip_rate: "<= 0.5", prediction_churn: "<= 0.5"}
"""


def test_on_the_host_firmware_with_int8_inputs(tmp_path) -> None:
    """The twin gives the firmware's own answers through the int8 round trip."""
    (tmp_path / "p.yaml").write_text(INT8_PLAN)
    outcome = run_plan(load_plan(tmp_path / "p.yaml"), tmp_path / "p.yaml",
                       [load_inventory().get("native")], tmp_path / "r")
    run = json.loads((tmp_path / "r" / "run.json").read_text())["runs"][0]
    assert outcome.status == "passed", run["expectations"]
    assert run["trust"]["base_predictions"] == "twin: gave the device's answer on all 179 test samples"
    assert {"evaluate_source_before", "evaluate_source_after"} <= set(run["timings"])
