"""Generate the Grafana dashboard of the HIL service from code (grafana-foundation-sdk).

    .venv/bin/python dashboards/generate.py          # rewrite dashboards/grafana/hil-service.json
    .venv/bin/python dashboards/generate.py --check  # exit 1 if the committed JSON is stale

Built with the SDK's typed builders, so the JSON has the schema Grafana
expects by construction; the output is committed so Grafana's file
provisioning (dashboards/provisioning/) can load it without Python. Every
query takes `max without (job, instance)`, so series scraped from `hil serve`
and pushed through the Pushgateway (the same labels otherwise) show as one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

OUT = Path(__file__).resolve().parent / "grafana" / "hil-service.json"
#: the datasource uid dashboards/provisioning/datasources/hil-prometheus.yaml gives Prometheus
DATASOURCE = DataSourceRef(type_val="prometheus", uid="hil-prometheus")
SERIES = 'plan=~"$plan", board=~"$board", strategy=~"$strategy"'
#: hil_run_status as one number per series, for the state timeline (value mappings below)
STATUS_CODES = (("running", 1, "blue"), ("passed", 2, "green"), ("failed", 3, "orange"),
                ("error", 4, "red"), ("stopped", 5, "purple"), ("abandoned", 6, "dark-red"))


def _q(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> Dataquery:
    query = Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format("table")  # type: ignore[arg-type]
    return query


def _series(metric: str, selector: str = SERIES) -> str:
    return f"max without (job, instance) ({metric}{{{selector}}})"


def _variable(name: str, label: str, source: str, *, multi: bool) -> dash.QueryVariable:
    var = (dash.QueryVariable(name).label(label).datasource(DATASOURCE)
           .query(f"label_values({source}, {name})")
           .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))
    if multi:
        var = var.multi(True).include_all(True).all_value(".*")
    return var


def _stat(title: str, expr: str, description: str, *, unit: str = "none", legend: str = "",
          text_mode: common.BigValueTextMode = common.BigValueTextMode.VALUE,
          red_from: float | None = 1) -> stat.Panel:
    steps = [Threshold(value=None, color="green")]
    if red_from is not None:
        steps.append(Threshold(value=red_from, color="red"))
    return (stat.Panel().title(title).description(description).datasource(DATASOURCE)
            .with_target(_q(expr, legend)).unit(unit).height(4).span(4)
            .text_mode(text_mode).graph_mode(common.BigValueGraphMode.NONE)
            .color_mode(common.BigValueColorMode.BACKGROUND)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .thresholds(dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)))


def _timeseries(title: str, description: str, unit: str, *queries: Dataquery,
                lo: float | None = None, hi: float | None = None) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
             .unit(unit).height(8).span(12).line_width(2).show_points(common.VisibilityMode.ALWAYS)
             .point_size(5).span_nulls(True)
             .legend(common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True).calcs(["lastNotNull"])))
    for q in queries:
        panel = panel.with_target(q)
    if lo is not None:
        panel = panel.min(lo)
    if hi is not None:
        panel = panel.max(hi)
    return panel


def _table(title: str, description: str, expr: str) -> table.Panel:
    return (table.Panel().title(title).description(description).datasource(DATASOURCE)
            .with_target(_q(expr, instant=True)).height(8).span(12))


def build() -> dash.Dashboard:
    status_expr = " + ".join(
        f'{code} * max by (plan, board, strategy) (hil_run_status{{{SERIES}, status="{name}"}})'
        for name, code, _ in STATUS_CODES)
    status_map = ValueMap(options={str(code): ValueMappingResult(text=name, color=color, index=i)
                                   for i, (name, code, color) in enumerate(STATUS_CODES)})
    return (
        dash.Dashboard("HIL on-device learning")
        .uid("hil-service")
        .description("Nightly and on-demand `hil run` results: accuracy per strategy, step latency "
                     "and memory per device, expectations, regressions, run status.")
        .tags(["hil", "on-device-learning"])
        .editable().tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-30d", "now").refresh("1m").timezone("utc")
        .with_variable(_variable("plan", "Plan", "hil_run_status", multi=False))
        .with_variable(_variable("board", "Device", 'hil_run_status{plan=~"$plan"}', multi=True))
        .with_variable(_variable("strategy", "Strategy", 'hil_run_status{plan=~"$plan"}', multi=True))
        .with_row(dash.Row("Now"))
        .with_panel(_stat("Run in progress", _series("hil_run_in_progress", 'plan=~"$plan"'),
                          "1 while a `hil run` of the plan is alive; the panels below keep the last "
                          "completed run's values meanwhile.", red_from=None))
        .with_panel(_stat("Latest run", 'max without (job, instance) '
                                        '(hil_plan_run_status{plan=~"$plan"}) == 1',
                          "Status of the plan's latest `hil run` (abandoned: its process died).",
                          legend="{{status}}", text_mode=common.BigValueTextMode.NAME, red_from=None))
        .with_panel(_stat("Since the last finished run",
                          'time() - max(hil_plan_run_finish_timestamp_seconds{plan=~"$plan"})',
                          "Time since the plan's latest run ended.", unit="s", red_from=26 * 3600))
        .with_panel(_stat("Expectations failing",
                          f"count({_series('hil_expectation_passed')} == 0) or vector(0)",
                          "Expectations of the plan that missed in the latest completed runs."))
        .with_panel(_stat("Regressions", f"sum({_series('hil_regressions')}) or vector(0)",
                          "Metrics flagged as regressed against their own history."))
        .with_panel(_stat("Devices unavailable",
                          'count(max without (job, instance) (hil_device_available{plan=~"$plan", '
                          'board=~"$board"}) == 0) or vector(0)',
                          "Devices the plan's latest run selected but could not use."))
        .with_row(dash.Row("Learning"))
        .with_panel(_timeseries("Accuracy per strategy", "Test-split accuracy after on-device "
                                "training, per strategy and device, over the runs.", "percentunit",
                                _q(_series("hil_accuracy_ratio"), "{{strategy}} on {{board}}"),
                                lo=0, hi=1))
        .with_panel(_timeseries("Accuracy gain", "Accuracy after minus before streaming.",
                                "percentunit",
                                _q(_series("hil_accuracy_gain_ratio"), "{{strategy}} on {{board}}")))
        .with_row(dash.Row("Device cost"))
        .with_panel(_timeseries("Step latency per device", "Trained step time by the device's "
                                "own clock (QEMU: virtual time), median and 95th percentile.", "s",
                                _q(_series("hil_train_step_p95_seconds"), "p95 {{board}} {{strategy}}"),
                                _q(_series("hil_train_step_p50_seconds"), "p50 {{board}} {{strategy}}",
                                   ref="B"), lo=0))
        .with_panel(_timeseries("Memory", "Arena high-water mark, stack high-water mark and "
                                "static RAM of the image, per device.", "bytes",
                                _q(f"max by (plan, board) ({_series('hil_arena_peak_bytes')})",
                                   "arena peak {{board}}"),
                                _q(f"max by (plan, board) ({_series('hil_stack_high_water_bytes')})",
                                   "stack {{board}}", ref="B"),
                                _q(f"max by (plan, board) ({_series('hil_ram_bytes')})",
                                   "static RAM {{board}}", ref="C"), lo=0))
        .with_row(dash.Row("Verdicts"))
        .with_panel(statetimeline.Panel().title("Run status").description(
            "Status of each strategy run on each device, run after run.").datasource(DATASOURCE)
            .with_target(_q(status_expr, "{{strategy}} on {{board}}")).height(8).span(24)
            .mappings([status_map]))
        .with_panel(_table("Expectations failing", "Expectations that missed in the latest "
                           "completed run of each series (value 0).",
                           f"{_series('hil_expectation_passed')} == 0"))
        .with_panel(_table("Regressions", "Metrics the latest judged run flagged against the "
                           "series' history (`hil history` shows it).",
                           f"{_series('hil_regression')} == 1"))
        .with_panel(_table("Unavailable devices", "Devices the plan's latest run skipped, and why.",
                           "max without (job, instance) (hil_device_skipped{plan=~\"$plan\"})"))
    )


def render() -> str:
    model = build().build()
    # Grafana keys panel state (links, edits) by id: number them in layout order
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed JSON")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run {Path(__file__).name} and commit the result", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
