"""Plans: the shipped ones load, and every kind of mistake names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil_service.expectations import Threshold, ThresholdError, catalogue, check
from hil_service.plan import PlanError, load_plan

PLANS = Path(__file__).resolve().parents[2] / "test_plans"

GOOD = """\
name: t
dataset: digits
scenario: {base: 0.5, stream: 0.25, test: 0.25, shift: sensor_offset}
strategies:
  - name: a
    strategy: tinyprop
    params: {learning_rate: 0.05}
    expect:
      accuracy: ">= 0.90"
      ram_bytes: "<= 48Ki"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke", "strategies", "active_learning", "nightly"])
def test_shipped_plans_load(name: str) -> None:
    plan = load_plan(PLANS / f"{name}.yaml")
    assert plan.name == name
    assert plan.strategies
    for run in plan.strategies:
        assert run.expect, f"{name}/{run.name} asserts nothing"
        run.thresholds("any-device")  # parse


def test_good_plan(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD))
    run = plan.strategies[0]
    assert run.thresholds("d")["ram_bytes"] == Threshold("<=", 48 * 1024, "<= 48Ki")
    assert run.train_params().strategy.name == "TINYPROP"
    assert plan.digest() == load_plan(write(tmp_path, GOOD + "\n# a comment\n")).digest()


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("strategy: tinyprop", "strategy: tinyprp",
         6, "strategies[0].strategy", "unknown strategy 'tinyprp'"),
        ("dataset: digits", "dataset: mnist", 2, "dataset", "unknown dataset 'mnist'"),
        ('accuracy: ">= 0.90"', 'accuracy: "at least 0.9"',
         9, "strategies[0].expect.accuracy", "does not parse"),
        ('accuracy: ">= 0.90"', 'acuracy: ">= 0.90"',
         9, "strategies[0].expect.acuracy", "unknown metric 'acuracy'"),
        ("learning_rate: 0.05", "learning_rat: 0.05",
         7, "strategies[0].params.learning_rat", "unknown field"),
        ("shift: sensor_offset", "shift: fog", 3, "scenario.shift", "unknown shift 'fog'"),
        ("dataset: digits\n", "", 1, "dataset", "required field is missing"),
        ("learning_rate: 0.05", "learning_rate: -1",
         7, "strategies[0].params.learning_rate", "outside (0, 10]"),
    ],
)
def test_bad_plan_names_file_line_field(tmp_path: Path, old: str, new: str, line: int,
                                        field: str, words: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PlanError) as err:
        load_plan(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: {field}"), msg
    assert words in msg
    assert "\n" not in msg and "more problem" not in msg


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("strategies:", "strategies: [", 1))
    with pytest.raises(PlanError, match=rf"^{path}:\d+: YAML syntax"):
        load_plan(path)


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="nope.yaml: file not found"):
        load_plan(tmp_path / "nope.yaml")


def test_duplicate_run_names(tmp_path: Path) -> None:
    text = GOOD + "  - name: a\n    strategy: full\n    expect: {accuracy: '>= 0.5'}\n"
    with pytest.raises(PlanError, match="strategies: .*'a' is used twice"):
        load_plan(write(tmp_path, text))


def test_expect_on_overrides_per_device(tmp_path: Path) -> None:
    text = GOOD + "    expect_on:\n      slow-board: {accuracy: '>= 0.5', train_step_us_p95: '<= 30000'}\n"
    run = load_plan(write(tmp_path, text)).strategies[0]
    assert run.thresholds("slow-board")["accuracy"].value == 0.5
    assert run.thresholds("other")["accuracy"].value == 0.9
    assert "train_step_us_p95" not in run.thresholds("other")
    bad = text.replace("'<= 30000'", "'fast'")
    with pytest.raises(PlanError, match=r":12: strategies\[0\]\.expect_on\.slow-board\.train_step_us_p95"):
        load_plan(write(tmp_path, bad))


@pytest.mark.parametrize(("text", "op", "value"), [
    (">= 0.90", ">=", 0.9), ("<=4000", "<=", 4000), ("< 1e-3", "<", 1e-3),
    ("== 200", "==", 200), ("<= 64Ki", "<=", 65536), ("<= 2M", "<=", 2e6), ("> -0.5", ">", -0.5),
])
def test_threshold_parse(text: str, op: str, value: float) -> None:
    t = Threshold.parse(text)
    assert (t.op, t.value) == (op, value)


@pytest.mark.parametrize("text", ["0.9", ">= ", "=> 0.9", ">= 0.9 0.8", ">= abc", True, None, [1]])
def test_threshold_rejects(text: object) -> None:
    with pytest.raises(ThresholdError, match="threshold"):
        Threshold.parse(text)


def test_check_verdicts() -> None:
    t = Threshold.parse(">= 0.9")
    assert check("accuracy", t, {"accuracy": 0.91}).passed
    missed = check("accuracy", t, {"accuracy": 0.89})
    assert not missed.passed and "misses" in missed.reason and missed.actual == 0.89
    absent = check("train_step_instructions_p95", Threshold.parse("<= 1"), {})
    assert not absent.passed and "not measured" in absent.reason
    assert not check("accuracy", t, {"accuracy": float("nan")}).passed
    assert all(info.unit and info.meaning for info in catalogue().values())


def test_readme_explains_every_metric_and_plan() -> None:
    readme = (PLANS.parent / "README.md").read_text()
    table = readme.split("### Metrics", 1)[1].split("Latency is always", 1)[0]
    assert len(catalogue()) > 20  # the workflows registered theirs
    missing = [m for m in catalogue() if f"`{m}`" not in table]
    assert not missing, f"README's metric table lacks {missing}"
    for plan in PLANS.glob("*.yaml"):
        assert f"`{plan.name}`" in readme, f"README does not mention {plan.name}"


def test_duplicate_key_and_self_alias(tmp_path: Path) -> None:
    dup = GOOD.replace("    strategy: tinyprop\n", "    strategy: tinyprop\n    strategy: full\n")
    with pytest.raises(PlanError, match=r":7: strategies\[0\]\.strategy: duplicate key \(first on line 6\)"):
        load_plan(write(tmp_path, dup))
    with pytest.raises(PlanError, match=r":1: alias \*a refers to itself"):
        load_plan(write(tmp_path, "a: &a [*a]\n"))


def test_unquoted_threshold_gets_a_hint(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r':9: YAML syntax: .*; quote thresholds, e.g. accuracy: ">= 0.9"'):
        load_plan(write(tmp_path, GOOD.replace('accuracy: ">= 0.90"', "accuracy: >= 0.90")))


def test_a_run_must_expect_something(tmp_path: Path) -> None:
    text = GOOD.split("    expect:")[0] + "    expect: {}\n"
    with pytest.raises(PlanError, match=r":8: strategies\[0\]\.expect: a strategy run needs at least one"):
        load_plan(write(tmp_path, text))
