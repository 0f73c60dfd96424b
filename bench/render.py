"""Render docs/benchmarks.md and its charts (docs/images/bench-*.png) from bench/results/*.json."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ROOT, Table

DOCS = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "images"

# (summary key path, description, test) for the targets.
TARGETS: list[tuple[tuple[str, str], str, Callable[[float], bool]]] = [
    (("sync", "kit_over_limit"), "sync throughput ≥ 0.9x the limit pipeline", lambda v: v >= 0.9),
    (
        ("sync", "kit_over_limit_1m"),
        "same on a 1,000,000-event backlog",
        lambda v: v >= 0.9,
    ),
    (("sync", "kit_over_peer"), "sync throughput ≥ 2x django-cqrs", lambda v: v >= 2),
    (("sync", "lag_p99_ms_at_half"), "sync lag p99 ≤ 100 ms at 50% load", lambda v: v <= 100),
    (("gateway", "over_nginx"), "gateway (monolith mode) ≥ 0.6x nginx", lambda v: v >= 0.6),
    (("gateway", "over_revproxy"), "gateway ≥ 2x django-revproxy", lambda v: v >= 2),
    (("gateway", "added_p50_ms"), "gateway added p50 ≤ 1 ms", lambda v: v <= 1),
    (
        ("gateway", "cpu_over_nginx"),
        "gateway CPU per request ≤ 2x nginx's",
        lambda v: v <= 2,
    ),
    (("gateway", "shadow_cost"), "shadow costs ≤ 10% of throughput", lambda v: v <= 0.1),
    (("replay", "over_copy"), "replay ≥ 0.5x COPY", lambda v: v >= 0.5),
    (("copy_fill", "over_copy"), "bulk fill (copy phase) ≥ 0.5x COPY", lambda v: v >= 0.5),
    (("reconcile", "seconds_equal"), "reconcile 10,000,000 equal rows ≤ 20 s", lambda v: v <= 20),
    (
        ("reconcile", "rows_read_fraction_10_drift"),
        "10 drifted rows: fetches < 0.01% of rows",
        lambda v: v < 0.0001,
    ),
    (("cutover", "ejections"), "cutover: no instance ejected on freeze answers", lambda v: v == 0),
    (
        ("cutover", "answers_503_on_over_off"),
        "cutover: client 503s with the freeze hold < without it",
        lambda v: v < 1,
    ),
]


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    results = {}
    for name in ("sync", "gateway", "replay", "reconcile", "copy_fill", "cutover", "summary"):
        path = folder / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    return results


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.pyplot as plt

    return plt


def chart_sync(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["throughput"])
    left.bar(
        names,
        [result["throughput"][n]["events_per_second"] for n in names],
        color=["#2b7bba", "#888888", "#d9822b"][: len(names)],
    )
    left.set_title(f"Throughput over a {result['events']:,}-event backlog")
    left.set_ylabel("events/s")
    left.tick_params(axis="x", labelsize=8)
    for name in names:
        loads = result["lag"].get(name, {})
        xs = [k for k in loads if "p99_ms" in loads[k]]
        right.plot(xs, [loads[k]["p99_ms"] for k in xs], marker="o", label=name)
    right.axhline(100, color="red", linestyle=":", linewidth=1, label="target (kit at 50%)")
    right.set_yscale("log")
    right.set_title("Lag p99 at a share of the kit's max throughput")
    right.set_ylabel("ms (log)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_gateway(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["saturation"])
    colors = ["#888888" if not n.startswith("gateway") else "#2b7bba" for n in names]
    left.bar(names, [result["saturation"][n]["requests_per_second"] for n in names], color=colors)
    left.set_title("Requests/s at saturation")
    left.tick_params(axis="x", labelrotation=30, labelsize=8)
    right.bar(names, [result["added_p50_ms"][n] for n in names], color=colors)
    right.axhline(1, color="red", linestyle=":", linewidth=1, label="target: 1 ms")
    right.set_title(f"Added p50 over direct at {result['moderate_rate']:.0f} requests/s")
    right.set_ylabel("ms")
    right.tick_params(axis="x", labelrotation=30, labelsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_replay(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = ["backfill", "replay", "COPY"]
    values = [
        result["backfill"]["events_per_second"],
        result["replay"]["events_per_second"],
        result["copy"]["rows_per_second"],
    ]
    ax.bar(names, values, color=["#2b7bba", "#2b7bba", "#888888"])
    ax.set_yscale("log")
    ax.set_ylabel("events (rows)/s, log")
    ax.set_title(f"Into an empty projection: {result['events']:,} events")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_reconcile(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    labels, values = [], []
    for key, label in (("reconcile_equal", "equal"), ("reconcile_drift", "10 drifted")):
        if key in result:
            labels.append(f"reconcile, {label}")
            values.append(result[key].get("seconds", 0))
    if "full_scan" in result:
        labels.append("full scan, 10 drifted")
        values.append(result["full_scan"]["seconds"])
    ax.bar(labels, values, color=["#2b7bba"] * (len(labels) - 1) + ["#888888"])
    ax.set_ylabel("seconds")
    ax.set_title(f"Reconcile of {result.get('rows', 0):,} rows per side")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_copy_fill(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = ["copy_context", "COPY from Python", "database-to-database COPY"]
    values = [
        result["copy_phase"]["rows_per_second"],
        result["copy"]["rows_per_second"],
        result["pass_through"]["rows_per_second"],
    ]
    ax.bar(names, values, color=["#2b7bba", "#888888", "#888888"])
    ax.set_ylabel("rows/s")
    ax.set_title(f"Filling an empty projection: {result['rows']:,} products")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_cutover(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    directions = list(result["cutovers"])
    width = 0.38
    for offset, (client, label, color) in enumerate(
        (("hold_off", "hold off (before)", "#888888"), ("hold_on", "hold on (after)", "#2b7bba"))
    ):
        xs = [index + (offset - 0.5) * width for index in range(len(directions))]
        values = [result["cutovers"][d]["clients"][client]["answers_503"] for d in directions]
        ax.bar(xs, values, width, label=label, color=color)
    ax.set_xticks(range(len(directions)), [f"to {d}" for d in directions])
    ax.set_ylabel("503 answers a client saw")
    ax.set_title(f"Client-visible 503s during a cutover ({result['products']:,} products)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


CHARTS = {
    "sync": chart_sync,
    "gateway": chart_gateway,
    "replay": chart_replay,
    "reconcile": chart_reconcile,
    "copy_fill": chart_copy_fill,
    "cutover": chart_cutover,
}


def targets_table(summary: dict[str, Any]) -> Table:
    table = Table("Targets", ["target", "measured", "met"])
    for (section, key), text, test in TARGETS:
        value = (summary.get(section) or {}).get(key)
        table.add(text, value, "—" if value is None else ("yes" if test(value) else "no"))
    return table


def render(folder: Path = RESULTS_DIR, docs: Path = DOCS, images: Path = IMAGES) -> Path:
    """Write the Markdown page and the PNG charts; returns the page's path."""
    results = load_results(folder)
    images.mkdir(parents=True, exist_ok=True)
    summary = results.get("summary", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/run_all.py) from the JSON in bench/results/; do not "
        "edit by hand. Every comparison runs in the same run on the same machine, so the ratios "
        "hold however noisy the machine is; the absolute numbers do not travel.",
        "",
        f"- machine: {summary.get('machine', '?')}",
        f"- date: {summary.get('date', '?')}",
        "",
        "## Targets",
        "",
        targets_table(summary).markdown(),
        "",
    ]
    lines += [LIMITS, ""]
    notes = summary.get("notes") or []
    if notes:
        lines += ["Notes from the run:", "", *[f"- {n}" for n in notes], ""]
    for name, heading in (
        ("sync", "Sync pipeline: outbox → RabbitMQ → inbox"),
        ("gateway", "Gateway"),
        ("replay", "Backfill and replay into an empty projection"),
        ("reconcile", "Reconcile"),
        ("copy_fill", "Copy phase: bulk fill of an empty projection"),
        ("cutover", "Cutover under client writes"),
    ):
        result = results.get(name)
        lines += [f"## {heading}", ""]
        if result is None:
            error = (summary.get("errors") or {}).get(name, "not run")
            lines += [f"No result: {error}", ""]
            continue
        error = (summary.get("errors") or {}).get(name)
        if error:  # this run's attempt failed; the figures are an earlier run's
            lines += [
                f"This run: {error}. The figures below are from {result.get('date', '?')}.",
                "",
            ]
        image = images / f"bench-{name}.png"
        try:
            CHARTS[name](result, image)
            relative = image.relative_to(docs.parent)
            lines += [f"![{heading}]({relative.as_posix()})", ""]
        except (KeyError, TypeError, ValueError) as exc:
            lines += [f"(chart not drawn: {exc})", ""]
        for table in result.get("tables", []):
            table = Table.from_dict(table)
            lines += [f"**{table.title}**", "", table.markdown(), ""]
        lines += [f"Raw numbers: `bench/results/{name}.json` ({result.get('date', '?')}).", ""]
    lines += [METHOD, ""]
    docs.write_text("\n".join(lines))
    return docs


LIMITS = """### What stands between the kit and the unmet targets

- **Sync vs the limit.** Per event the kit's relay now costs about what the limit's does (it
  encodes its message headers itself and writes a batch's frames in a few writes, ADR 0013's
  third pass); the rest is what the kit does for its generality, mostly in the consumer: it
  validates every event against its contract, records it in an inbox with three indexes and a
  per-aggregate version table (tombstones for deletes, which the limit folds into the product
  row), and writes a catalog table with the five indexes the service's API needs where the
  limit's table has one. The outbox's mark rewrites six index entries a row where the limit's
  table has three. The relay and consumer CPU columns show each side's share.
- **Sync lag.** At half the kit's maximum the writer, PostgreSQL, RabbitMQ, the relay and the
  consumer share two cores; once they need all of them the lag's tail is queueing for the CPU,
  and it jumps from tens of milliseconds to hundreds within a few hundred events/s (ADR 0013's
  fourth pass). What keeps the kit below that edge is CPU per event: frames read from what has
  arrived, prepared claim/read/record statements, per-partition floors so no probe walks the
  dead pending-index entries of published rows, and batches that linger 20 ms in a trickle.
  Run to run, the same code's p99 at the same rate moves by a factor of two on this machine.
- **Sync and backlog size.** The 100,000 and 1,000,000-event drains above run through the same
  processes; the ratio on both is the measure (the claim's cost does not grow with the backlog,
  ADR 0013).
- **Gateway CPU vs nginx.** A plain request skips uvicorn's request cycle and task (ADR 0014's
  direct path and express lane); what is left is the breadth of the gateway's own Python work
  per request (inspection, routing, the backend's head, the answer's head, counts) on caches the
  backend has just emptied: about 1.85-2x nginx's whole hop on this machine, run to run (ADR
  0014's eighth pass). The nginx export of the routing table (`export_gateway_config`) is the
  way for traffic that needs nginx's figures.
- **Gateway vs django-revproxy.** Both sit in front of the same backend, which saturates the
  cores first; see the proxy CPU column for what each proxy costs by itself (django-revproxy
  burns several times the gateway's CPU per request, nginx about half of it). The added p50
  at a quarter of direct's rate is within the run-to-run noise of this machine (±1.5 ms).
- **Shadow mode.** On one machine the mirrored request runs the extracted service's full
  endpoint on the same two cores as the monolith, so the client loses the service's share of
  the CPU; the gateway's own cost of shadowing (its CPU per mirror beyond monolith mode's) and
  the service's CPU per mirror are in the gateway's CPU table, apart (issue 19).
- **Replay vs COPY.** Replay goes the production path (relay, broker, inbox with dedupe and
  version checks, one transaction per batch); COPY writes rows with none of that. Filling an
  empty projection is the copy phase's job (`copy_context`, ADR 0010), measured apart below;
  replay and backfill are for re-delivering events, not for the first fill."""


METHOD = """## How each number is made

- **Sync.** Three pipelines in one run on one PostgreSQL and one RabbitMQ, each with its own
  databases, exchange and queue: strangler-kit as shipped (`manage.py outbox_relay` and the catalog
  service's `consume_events`, quorum queue, persistent messages, publisher confirms); the limit, a
  minimal hand-written pipeline with the same guarantees (`bench/limit_pipeline.py`: batched
  confirms, inbox dedupe and version check in one transaction per batch, ack after commit); and
  django-cqrs configured as its README says (`bench/peers/cqrs/`, `RabbitMQTransport`, master and
  replica in separate processes; it declares a classic durable queue and publishes persistent
  messages without publisher confirms, so its guarantees are weaker than the other two).
  Throughput: a backlog is committed first, then drained; the rate is the applied count over the
  span between the service's first and last commit. For django-cqrs the backlog is sent by its
  own `cqrs_sync` command while the replica consumes. Lag: a paced writer commits events (a few
  per commit at high rates) at 25/50/75% of the kit's measured maximum; lag is the service's apply
  timestamp minus the writer's commit timestamp, both from the same clock, after a 1 s warm-up.
- **Gateway.** gunicorn (gthread, 2 workers x 4 threads) serves the monolith's catalog list and
  detail endpoints on PostgreSQL; wrk (2 threads, 32 connections) alternates the two. The same
  backend is reached directly, through `manage.py rungateway` in modes `monolith`, `shadow`
  (mirrored to the extracted catalog service, compared, differences stored) and `canary 50`,
  through nginx (`proxy_pass`, upstream keep-alive) and through django-revproxy's `ProxyView` on
  gunicorn. Added latency: p50 at a fixed rate of a quarter of direct's maximum (wrk with a
  per-connection delay) minus direct's p50 at that rate. Proxy CPU per request: user + system
  CPU of the proxy's processes (its workers included) during the saturation run, divided by the
  requests served; "gateway / nginx" divides the monolith-mode gateway's by nginx's from the same
  run. Shadow mode: the mirrors compared during its run (the gateway's `/metrics`) over its
  requests give the mirrored share; its own CPU per mirror is the shadow gateway's CPU per
  request less the monolith-mode gateway's, over that share; the service's CPU per mirror is
  the extracted service's CPU during the shadow run over the mirrors (ADR 0014).
  On one 2-core machine the backend (about 8 ms of CPU for the list, 3 ms for
  the detail) is what saturates, so requests/s of every path measure the backend's share of the
  cores; the CPU a proxy burns per request is what the proxy itself costs.
- **Replay.** N products in the monolith; `backfill catalog.product` records a snapshot event
  per row, the relay publishes and the service consumes into an empty projection; then the
  projection is emptied and `replay_events --to catalog-service` sends the stored events again.
  Rates run from the command's start to the service's last commit. The limit is PostgreSQL COPY
  of the same rows into an empty copy of the service's product table.
- **Reconcile.** bench/reconcile.py: 10,000,000 products on each side, `manage.py reconcile`
  against the other side's `/internal/sync/`; then 10 rows drift (3 deleted, 4 changed, 3 added).
- **Copy phase.** bench/copy_fill.py: 1,000,000 products in the monolith (no events); the
  monolith's runserver serves `/internal/sync/`; `extracted/catalog/manage.py copy_context
  catalog.product` fills the service's empty projection (rows/s of the copy itself; the
  reconcile that ends it is shown apart). Limits in the same run: COPY of the same rows from
  Python into an empty copy of the service's product table, and a database-to-database COPY
  piping `COPY TO STDOUT` into `COPY FROM STDIN`. The event path (`backfill`) is the replay
  benchmark's backfill row.
- **Cutover.** bench/cutover.py: 100,000 products filled into the catalog service by the copy
  phase, then `cutover catalog --to service` and back while two clients create products and
  change prices through two gateways that follow the writer, one with `FREEZE_HOLD_SECONDS` 0
  (a frozen write is answered 503 at once: before) and one holding writes across the freeze
  (after). Each client retries a 503 after 20 ms; "503 answers" counts every 503 it read,
  "writes that met a 503" the writes behind them; the longest write runs from its first send
  to its acknowledgement. "Held, then sent", "instances ejected" and "breakers opened" are the
  gateway's own counters over the cutover (`/metrics`): the freeze's 503s are intended answers
  (`X-Strangler-Intended`), so no instance may be ejected for them. The first table is the fill:
  `copy_context catalog` on the service, from its start to reconcile equal (ADR 0010)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--images", type=Path, default=IMAGES)
    args = parser.parse_args(argv)
    print(f"wrote {render(args.results_dir, args.docs, args.images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
