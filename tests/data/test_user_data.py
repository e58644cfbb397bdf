"""The user's own data in a plan: NPZ and CSV loaded, every bad file refused with its place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil_service import datasets
from hil_service.data.user import PREFIX, UserDataError, load_file
from hil_service.plan import PlanError, load_plan

PLAN = """\
name: mine
dataset: {dataset}
strategies:
  - name: last_layer
    strategy: last_layer
    stream: {{samples: 16}}
    expect: {{accuracy: ">= 0.1"}}
"""


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def _good(n: int = 40, f: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.random((n, f)).astype(np.float32), "y": np.arange(n) % 4,
            "subject": np.arange(n) // 10}


def test_npz_in_a_plan_relative_to_the_plan(tmp_path: Path) -> None:
    _npz(tmp_path / "data.npz", **_good())
    (tmp_path / "plan.yaml").write_text(PLAN.format(dataset="{path: data.npz}"))
    plan = load_plan(tmp_path / "plan.yaml")
    assert plan.dataset == PREFIX + str((tmp_path / "data.npz").resolve())
    assert plan.base_model.learning_rate == 0.01  # the cautious recipe for unknown data
    ds = datasets.load(plan.dataset)
    assert ds.x.shape == (40, 6) and ds.n_classes == 4 and ds.image_shape == (1, 6)
    assert np.array_equal(ds.groups["subject"], np.arange(40) // 10)
    sc = datasets.scenario(ds, 0.5, 0.25, 0.25)
    assert len(sc.x_base) + len(sc.x_stream) + len(sc.x_test) == 40


def test_csv_with_domain_and_subject(tmp_path: Path) -> None:
    rows = ["a,b,label,domain,subject"] + [f"{i / 10},{1 - i / 10},{i % 2},{i // 5},{i % 3}"
                                           for i in range(10)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    ds = load_file(tmp_path / "d.csv")
    assert ds.x.shape == (10, 2) and ds.n_classes == 2
    assert np.allclose(ds.x[3], [0.3, 0.7]) and ds.y[3] == 1
    assert ds.groups["domain"].tolist() == [0] * 5 + [1] * 5
    assert ds.groups["subject"][:4].tolist() == [0, 1, 2, 0]


CSV_ERRORS = [  # (file text, the message's tail)
    ("a,b\n1,2\n", ":1: no 'label' column in the header"),
    ("a,label\n1,0\n2\n", ":3: 1 fields, the header has 2"),
    ("a,label\n1,0\nx,1\n", ":3: column 'a': 'x' is not a number"),
    ("a,label\n1,0\nnan,1\n", ":3: column 'a' is nan: features must be finite numbers"),
    ("a,label\n1,0\n2,300\n", ":3: label 300 is outside 0..255"),
    ("a,label\n1,0\n2,-1\n", ":3: label -1 is outside 0..255"),
    ("a,label\n1,0\n2,1.5\n", ":3: column 'label': '1.5' is not an integer"),
    ("a,label\n1,0\n2,0\n", ": only one distinct label; a classifier needs at least two"),
    ("a,label,subject\n1,0,x\n", ":2: column 'subject': 'x' is not an integer"),
    (",".join(f"f{i}" for i in range(1025)) + ",label\n", ":1: 1025 feature columns, the firmware "
                                                          "takes at most 1024 (ODL_MAX_INPUTS)"),
]


@pytest.mark.parametrize(("text", "tail"), CSV_ERRORS)
def test_bad_csv(tmp_path: Path, text: str, tail: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserDataError) as exc:
        load_file(path)
    assert str(exc.value) == f"{path}{tail}"


NPZ_ERRORS = [  # (arrays, the message's tail)
    ({"x": np.zeros((4, 2, 2)), "y": np.arange(4)}, ": x has shape (4, 2, 2), expected (samples, features)"),
    ({"x": np.zeros((4, 2)), "y": np.arange(3)}, ": y has shape (3,), expected (4,) like x's rows"),
    ({"x": np.array([[0.0, 1.0], [np.nan, 0.0]]), "y": np.arange(2)},
     ": x[1, 0] is nan: features must be finite numbers"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, 1, 256])}, ": y[2] = 256 is outside 0..255"),
    ({"x": np.zeros((3, 2)), "y": np.array([0.0, 1.0, 1.0])}, ": y has dtype float64, expected integer labels"),
    ({"x": np.zeros((2, 1025)), "y": np.arange(2)}, ": 1025 features, the firmware takes at most 1024 "
                                                    "(ODL_MAX_INPUTS)"),
    ({"x": np.zeros((2, 2))}, ": array 'y' is missing"),
    ({"x": np.zeros((2, 2)), "y": np.arange(2), "labels": np.arange(2)},
     ": unknown array 'labels'; known: domain, shape, subject, x, y"),
    ({"x": np.zeros((2, 4)), "y": np.arange(2), "shape": np.array([3, 2])},
     ": shape [3, 2] must be [rows, cols] with rows * cols = 4"),
]


@pytest.mark.parametrize(("arrays", "tail"), NPZ_ERRORS)
def test_bad_npz(tmp_path: Path, arrays: dict[str, np.ndarray], tail: str) -> None:
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserDataError) as exc:
        load_file(path)
    assert str(exc.value) == f"{path}{tail}"


def test_plan_names_its_line_and_the_data_files_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,999\n")
    (tmp_path / "plan.yaml").write_text(PLAN.format(dataset="{path: d.csv}"))
    with pytest.raises(PlanError) as exc:
        load_plan(tmp_path / "plan.yaml")
    assert str(exc.value) == (f"{tmp_path / 'plan.yaml'}:2: dataset: {(tmp_path / 'd.csv').resolve()}:3: "
                              "label 999 is outside 0..255")


@pytest.mark.parametrize(("dataset", "problem"), [
    ("{path: missing.npz}", "no such data file"),
    ("{path: d.txt}", "unknown format '.txt'; use .npz or .csv"),
    ("{file: d.csv}", "a dataset is a name or a mapping {path: file.npz|file.csv}"),
])
def test_plan_refuses_bad_dataset_mappings(tmp_path: Path, dataset: str, problem: str) -> None:
    (tmp_path / "d.txt").write_text("x")
    (tmp_path / "plan.yaml").write_text(PLAN.format(dataset=dataset))
    with pytest.raises(PlanError, match=r"plan\.yaml:2: dataset: .*" + problem.replace(".", r"\.")
                       .replace("{", r"\{").replace("}", r"\}").replace("|", r"\|")):
        load_plan(tmp_path / "plan.yaml")


def test_subject_split_personalises_on_held_out_subjects(tmp_path: Path) -> None:
    from hil_service.data.groups import group_scenario

    ds = load_file(_npz(tmp_path / "d.npz", **_good()))  # subjects 0..3, 10 samples each
    sc = group_scenario(ds, "subject", base_groups=[0, 1], stream=0.5, seed=3)
    subj = ds.groups["subject"]
    rows = {r.tobytes(): i for i, r in enumerate(ds.x)}
    base_subjects = {int(subj[rows[r.tobytes()]]) for r in sc.x_base}
    device_subjects = {int(subj[rows[r.tobytes()]]) for r in np.concatenate([sc.x_stream, sc.x_test])}
    assert base_subjects == {0, 1} and device_subjects == {2, 3}
    assert len(sc.x_base) == 20 and len(sc.x_stream) + len(sc.x_test) == 20
    with pytest.raises(datasets.DatasetError, match="has no 'domain' column; it has: subject"):
        group_scenario(ds, "domain", base_groups=[0])
    with pytest.raises(datasets.DatasetError, match="base subject 9 is not in dataset"):
        group_scenario(ds, "subject", base_groups=[9])
