"""A federation's result: the global model is every member's final model, with trust
figures against the base (both on the twin) and one lineage entry per member."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hil_service.base_models import prepare_data
from hil_service.inventory import load_inventory
from hil_service.plan import load_plan
from hil_service.reference import Mlp
from hil_service.runner import run_plan
from hil_service.trust import trust_figures

from ..federated.conftest import fed_plan, native_lab

pytestmark = pytest.mark.timeout(900)


def test_global_model_is_kept_per_member_with_its_trust_figures(tmp_path: Path) -> None:
    ids = ["native-a", "native-b"]
    lab = native_lab(tmp_path, ids)
    plan_path = fed_plan(tmp_path, ids, "rounds: 1, partition: iid, samples_per_device: 24, min_clients: 2",
                         'final_accuracy: ">= 0.3", negative_flip_rate: "<= 0.5"')
    plan = load_plan(plan_path)
    inv = load_inventory(lab)
    outcome = run_plan(plan, plan_path, [inv.get(i) for i in ids], tmp_path / "out")
    data = json.loads((tmp_path / "out" / "run.json").read_text())
    (run,) = data["runs"]
    assert outcome.status == "passed", run.get("error") or run["expectations"]
    members = run["lineage_members"]
    assert set(members) == set(ids) and "lineage" not in run
    blobs = {d: (tmp_path / "out" / e["blob"]).read_bytes() for d, e in members.items()}
    assert blobs["native-a"] == blobs["native-b"]  # one global model
    child = hashlib.sha256(blobs["native-a"]).hexdigest()
    for d, e in members.items():
        assert e["blob"] == f"native-a+native-b/fed/weights-{d}.bin"
        assert e["child"] == child != e["parent"] == data["base_model"]["sha256"]
        assert e["workflow"] == "federated" and e["build_id"] == data["devices"][d]["hello"]["git_hash"]
    # the trust figures are the twin's, recomputed here from the kept blob
    sc = prepare_data(plan).scenario
    base = Mlp.from_blob(_base_blob(plan))
    want = trust_figures(sc.y_test, base.predict(sc.x_test_base_domain),
                         Mlp.from_blob(blobs["native-a"]).predict(sc.x_test_base_domain))
    m = run["metrics"]
    assert m["negative_flip_rate"] == want.negative_flip_rate
    assert m["prediction_churn"] == want.prediction_churn > 0
    assert m["source_accuracy_after"] == want.source_accuracy_after


def _base_blob(plan) -> bytes:
    from hil_service.base_models import prepare

    return prepare(plan, prepare_data(plan)).blob
