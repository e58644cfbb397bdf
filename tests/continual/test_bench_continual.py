"""bench.continual: the JSON it prints, on one seed of one data set (the twin's schedule)."""

from __future__ import annotations

import json

import pytest

from bench import continual


def test_bench_prints_every_method_and_the_joint_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert continual.main(["--datasets", "digits", "--seeds", "1", "--epochs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    d = out["digits"]
    for method in continual.METHODS:
        for key in ("average_accuracy", "forgetting", "replay_bytes", "training_macs_total",
                    "inference_macs"):
            assert isinstance(d[method][key], float), (method, key)
    assert 0.9 <= d["joint"]["average_accuracy"] <= 1.0
    assert d["naive"]["replay_bytes"] == 0
    assert d["distilled"]["replay_bytes"] == d["random"]["replay_bytes"] <= 0.02 * d["train_pool"] * 65
    # replay steps cost training MACs: ratio 2 triples them against naive fine-tuning
    assert d["random"]["training_macs_total"] == 3 * d["naive"]["training_macs_total"]
    assert d["distilled"]["forgetting"] <= d["naive"]["forgetting"] / 3
    assert d["distilled_fixed64"]["inference_macs"] == 64 * 64 + 64 * 10


def test_unknown_data_set_is_refused() -> None:
    with pytest.raises(SystemExit):
        continual.main(["--datasets", "mnist"])
