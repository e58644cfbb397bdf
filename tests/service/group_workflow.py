"""A test-only group workflow: every member loads the base weights and evaluates the
test split; the group figure is how far the members' accuracies spread. Registered by
the tests that use it (`register(PairEvaluation)`), never shipped."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from hil_service.bringup import LiveDevice
from hil_service.expectations import MetricInfo
from hil_service.workflows import Workflow, WorkflowContext

GROUP_PLAN = """\
name: group
dataset: digits
scenario: {{base: 0.5, stream: 0.25, test: 0.1, seed: 1, shift: sensor_offset}}
base_model: {{hidden: [16], epochs: 5, seed: 7}}
devices: {{backend: native, limit: 2}}
strategies:
{runs}  - name: pair
    strategy: last_layer
    workflow: pair_evaluation
    devices: {{count: 2}}
    expect: {{member_accuracy: ">= 0.3", accuracy_spread: "<= 0.0", members_up: "== 2"}}
    expect_on:
      native-b: {{member_accuracy: ">= 0.99"}}
"""

TWO_NATIVE = """\
devices:
  - id: native-a
    backend: native
    board: native_sim
  - id: native-b
    backend: native
    board: native_sim
"""


class PairEvaluation(Workflow):
    name: ClassVar[str] = "pair_evaluation"
    summary: ClassVar[str] = "evaluate the base weights on every member at once"
    metrics = {
        "member_accuracy": MetricInfo("ratio", "test accuracy of the base weights on one member",
                                      per_device=True),
        "accuracy_spread": MetricInfo("ratio", "highest minus lowest member accuracy"),
        "members_up": MetricInfo("devices", "members that answered"),
    }
    min_devices: ClassVar[int] = 2
    max_devices: ClassVar[int | None] = None

    def run(self, ctx: WorkflowContext) -> None:
        sc, base = ctx.data.scenario, ctx.base

        def one(live: LiveDevice) -> float:
            dev = live.device
            dev.reset()
            dev.configure(base.arch, ctx.spec.train_params())
            dev.load_weights(base.blob)
            accuracy = dev.evaluate(sc.x_test, sc.y_test).accuracy
            ctx.record_device(live.entry.id, member_accuracy=accuracy)
            return accuracy

        with ThreadPoolExecutor(len(ctx.devices)) as pool:
            accuracies = list(pool.map(one, ctx.devices))
        ctx.record(accuracy_spread=max(accuracies) - min(accuracies), members_up=len(accuracies))


class RestartPair(PairEvaluation):
    """Kills the last member's target, restarts it through `ctx.restart`, evaluates on the new
    one, and keeps a file in `ctx.run_dir`; the dead and new targets are kept for the test."""

    name: ClassVar[str] = "restart_pair"
    summary: ClassVar[str] = "restart one member mid-run"
    seen: ClassVar[dict[str, object]] = {}

    def run(self, ctx: WorkflowContext) -> None:
        import os
        import signal

        from hil_service.backends.process import ProcessTarget

        victim = ctx.devices[-1]
        assert isinstance(victim.target, ProcessTarget)
        os.kill(victim.target.pid, signal.SIGKILL)
        victim.target.wait_exit(10)
        try:
            ctx.restart("no-such-device")
        except KeyError as exc:
            type(self).seen["unknown"] = str(exc)
        new = ctx.restart(victim.entry.id)
        type(self).seen.update(old=victim.target, new=new.target)
        ctx.run_dir.mkdir(parents=True)
        (ctx.run_dir / "note.txt").write_text(new.target.serial_url)
        sc = ctx.data.scenario
        accuracies = []
        for live in (*ctx.devices[:-1], new):  # the others were not touched
            live.device.configure(ctx.base.arch, ctx.spec.train_params())
            live.device.load_weights(ctx.base.blob)
            accuracies.append(live.device.evaluate(sc.x_test, sc.y_test).accuracy)
            ctx.record_device(live.entry.id, member_accuracy=accuracies[-1])
        ctx.record(accuracy_spread=max(accuracies) - min(accuracies), members_up=len(accuracies))
