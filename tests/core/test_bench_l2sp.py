"""bench.l2sp end to end on one seed: the JSON it prints carries the figures
the README quotes, and the trust metrics mean what they say."""

from __future__ import annotations

import json

import numpy as np

from bench import l2sp


def test_trust_metrics_count_the_right_samples():
    y = np.array([0, 1, 2, 3])
    base = np.array([0, 1, 0, 3])     # right on 0, 1, 3
    adapted = np.array([0, 2, 2, 1])  # right on 0, 2
    t = l2sp.trust(base, adapted, y)
    assert t["source_accuracy_after"] == 0.5
    assert t["negative_flip_rate"] == 0.5   # samples 1 and 3: base right, adapted wrong
    assert t["prediction_churn"] == 0.75    # 1, 2, 3 changed


def test_bench_prints_deltas_against_the_unregularised_run(capsys):
    assert l2sp.main(["--seeds", "1", "--shifts", "sensor_offset", "--lrs", "0.01",
                      "--lambdas", "0.3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == 1 and set(out["base"]) == {"sensor_offset"}
    plain, reg = out["results"]
    assert plain["l2sp_lambda"] == 0.0 and "vs_unregularised" not in plain
    assert reg["l2sp_lambda"] == 0.3
    for k in l2sp.METRICS:
        assert reg["vs_unregularised"][k] == round(reg[k] - plain[k], 4) or \
            abs(reg["vs_unregularised"][k] - (reg[k] - plain[k])) < 1e-3
    # the anchor holds the model nearer the base: fewer of its predictions change
    assert reg["prediction_churn"] <= plain["prediction_churn"]
