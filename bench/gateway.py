"""The gateway side by side: direct, strangler gateway (3 modes), nginx and django-revproxy.

The monolith's catalog list and detail endpoints, served by gunicorn (gthread workers, so proxies
can keep backend connections alive), are requested by wrk alternately. Every path reaches the
same backend; each is measured at saturation, then at a fixed moderate rate (a quarter of direct's
maximum) for the latency a proxy adds. Two rounds, the second in reverse order, are averaged,
so neither a noisy machine nor the order of the paths favours one of them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    BenchError,
    Budget,
    ProcessGroup,
    Table,
    base_env,
    create_database,
    drop_database,
    free_port,
    manage,
    print_tables,
    process_tree_cpu_seconds,
    ratio,
    require_binary,
    run_id,
    work_dir,
    write_result,
)
from bench.workload import copy_products

DIRECT, NGINX, REVPROXY = "direct", "nginx", "django-revproxy"
GATEWAY_MODES = ("monolith", "shadow", "canary 50")
PRODUCTS = 500
CONNECTIONS = 32
MODERATE_CONNECTIONS = 8

WRK_SCRIPT = r"""
-- Alternate the catalog list and detail endpoints; a new client id per request (canary).
local counter = 0
local products = tonumber(os.getenv("BENCH_PRODUCTS") or "500")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")

request = function()
  counter = counter + 1
  local path
  if counter % 2 == 0 then
    path = "/api/catalog/products/?page_size=20"
  else
    path = "/api/catalog/products/" .. ((counter * 7919) % products + 1) .. "/"
  end
  return wrk.format("GET", path, {["X-Client-Id"] = "client-" .. counter})
end

delay = function()
  if rate > 0 then
    -- Each connection waits connections/rate seconds: all of them together make `rate`.
    return 1000 * connections / rate
  end
  return 0
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""

NGINX_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream monolith {{
        server 127.0.0.1:{backend};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://monolith;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@dataclass
class Target:
    """One way to reach the backend: a name, the port wrk sends to and the proxy's process."""

    name: str
    port: int
    pid: int | None = None  # the proxy's process (its workers are its children); None: direct
    service_pid: int | None = None  # the extracted service's gunicorn (shadow and canary reach it)
    mirrors: bool = False  # a gateway in shadow mode: its /metrics count the mirrored requests


_SHADOW_SAMPLE = re.compile(r"^gateway_shadow_comparisons_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def mirrored_so_far(port: int) -> float:
    """Mirrors the shadow gateway has compared so far (match, mismatch or error), from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(value) for value in _SHADOW_SAMPLE.findall(text))


def wrk(
    port: int, seconds: float, script: Path, *, connections: int, rate: float = 0.0
) -> dict[str, Any]:
    """One wrk run; requests/s and latency percentiles in ms (BenchError on errors)."""
    binary = require_binary("wrk")
    env = {
        "BENCH_PRODUCTS": str(PRODUCTS),
        "BENCH_RATE": str(rate),
        "BENCH_CONNECTIONS": str(connections),
        "PATH": "/usr/bin:/bin",
    }
    argv = [
        binary,
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 30)
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"wrk failed on port {port}:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1].removeprefix("WRK_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_second": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "errors": raw["errors"],
        "non_2xx": raw["non_2xx"],
    }


def saturate(target: Target, seconds: float, script: Path) -> dict[str, Any]:
    """One saturation run; for a proxy also the CPU its processes spent per request, and the
    CPU the extracted service spent meanwhile (the backend work shadow and canary add)."""
    before = process_tree_cpu_seconds(target.pid) if target.pid else 0.0
    service_before = process_tree_cpu_seconds(target.service_pid) if target.service_pid else 0.0
    mirrored_before = mirrored_so_far(target.port) if target.mirrors else 0.0
    row = wrk(target.port, seconds, script, connections=CONNECTIONS)
    requests = max(1, row["requests"])
    if target.pid:
        # What the proxy itself burns per request: independent of how fast the backend is,
        # which on one machine caps every path's requests/s alike.
        spent = process_tree_cpu_seconds(target.pid) - before
        row["proxy_cpu_ms_per_request"] = round(1000 * spent / requests, 3)
    if target.service_pid:
        spent = process_tree_cpu_seconds(target.service_pid) - service_before
        row["service_cpu_ms_per_request"] = round(1000 * spent / requests, 3)
    if target.mirrors:
        # Mirrors still queued when wrk stops are compared during the next path's run; the
        # share is what was compared during this one (close to 1 unless mirrors were dropped).
        mirrored = mirrored_so_far(target.port) - mirrored_before
        row["mirrored_share"] = round(mirrored / requests, 3)
    return row


def mean_run(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one path averaged field by field (each run kept under `runs`).

    Kept to 6 places: the ratios taken from these means (CPU per request against nginx's) are
    rounded once, at the end, not after the means were rounded to the digits a table shows.
    """
    merged: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
        if len(values) == len(rows):
            merged[key] = round(sum(values) / len(values), 6)
    merged["runs"] = list(rows)
    return merged


def gunicorn(
    group: ProcessGroup, name: str, app: str, env: dict[str, str], workers: int = 2
) -> int:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        app,
        "-k",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    group.start_http(name, argv, env, f"http://127.0.0.1:{port}/api/catalog/products/1/")
    return port


def start_targets(group: ProcessGroup, rid: str, folder: Path) -> tuple[list[Target], list[str]]:
    """Backends, the three gateways, nginx and revproxy; returns the targets and databases."""
    mono_db, svc_db = f"bench_{rid}_gw_mono", f"bench_{rid}_gw_svc"
    ctl_db = f"bench_{rid}_gw_ctl"
    mono_url, svc_url = create_database(mono_db), create_database(svc_db)
    env = base_env(
        STRANGLER_CONTROL_DATABASE_URL=create_database(ctl_db),
        # Health checks must not eject a backend that is merely saturated by the load itself.
        STRANGLER_GATEWAY_OPTIONS='{"HEALTH_TIMEOUT": 5.0}',
        DEBUG="false",
        SECRET_KEY="benchmark-only",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        DATABASE_URL=mono_url,
        CATALOG_DATABASE_URL=svc_url,
    )
    manage(["migrate", "--no-input", "-v", "0"], env)
    manage(["migrate", "--database", "control", "--no-input", "-v", "0"], env)
    manage(["migrate", "--no-input", "-v", "0"], env, project="extracted/catalog/manage.py")
    copy_products(mono_url, "catalog_product", PRODUCTS)
    copy_products(svc_url, "catalog_product", PRODUCTS)
    backend = gunicorn(group, "monolith", "monolith.config.wsgi:application", env)
    service = gunicorn(group, "service", "extracted.catalog.config.wsgi:application", env, 1)
    service_pid = group.processes[-1].pid
    targets = [Target(DIRECT, backend, service_pid=service_pid)]
    routes = {
        "monolith": "mode: monolith",
        "shadow": "mode: shadow\n    service: catalog",
        "canary 50": "mode: canary\n    percent: 50\n    service: catalog",
    }
    for mode in GATEWAY_MODES:
        table = folder / f"routes-{mode.replace(' ', '-')}.yaml"
        table.write_text(
            "backends:\n"
            f'  monolith: ["http://127.0.0.1:{backend}"]\n'
            f'  catalog: ["http://127.0.0.1:{service}"]\n'
            "routes:\n"
            f"  - prefix: /api/catalog/\n    {routes[mode]}\n"
            "  - prefix: /\n    mode: monolith\n"
        )
        port = free_port()
        process = group.start_http(
            f"gateway-{mode.replace(' ', '-')}",
            [PYTHON, "manage.py", "rungateway", "--port", str(port), "--routes", str(table)],
            env,
            f"http://127.0.0.1:{port}/api/catalog/products/1/",
        )
        targets.append(
            Target(
                f"gateway {mode}",
                port,
                process.pid,
                service_pid=service_pid,
                mirrors=mode == "shadow",
            )
        )
    nginx_port = free_port()
    prefix = folder / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, backend=backend, port=nginx_port))
    nginx = group.start_http(
        "nginx",
        [require_binary("nginx"), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        base_env(),
        f"http://127.0.0.1:{nginx_port}/api/catalog/products/1/",
    )
    targets.append(Target(NGINX, nginx_port, nginx.pid, service_pid=service_pid))
    revproxy_env = base_env(
        DJANGO_SETTINGS_MODULE="bench.peers.revproxy.settings",
        REVPROXY_UPSTREAM=f"http://127.0.0.1:{backend}/",
    )
    revproxy = gunicorn(group, "revproxy", "bench.peers.revproxy.wsgi:application", revproxy_env)
    targets.append(Target(REVPROXY, revproxy, group.processes[-1].pid, service_pid=service_pid))
    return targets, [mono_db, svc_db, ctl_db]


def run(seconds: float, budget: Budget, keep: bool = False) -> dict[str, Any]:
    """Saturation and moderate-rate runs against every target; the JSON document."""
    require_binary("wrk")
    require_binary("nginx")
    rid = run_id()
    folder = work_dir(f"gateway-{rid}")
    script = folder / "catalog.lua"
    script.write_text(WRK_SCRIPT)
    group = ProcessGroup(folder)
    databases: list[str] = []
    saturation: dict[str, Any] = {}
    moderate: dict[str, Any] = {}
    try:
        targets, databases = start_targets(group, rid, folder)
        for target in targets:  # warm up: connections, Python imports, caches
            wrk(target.port, 1, script, connections=CONNECTIONS)
        # Two rounds, the second in reverse order, averaged: the first paths of a round ran
        # measurably slower (a backend's connections settling), and this cancels the order.
        per_run = min(seconds, max(1.0, budget.remaining() / (4.4 * len(targets))))
        rounds = (targets, targets[::-1])
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        for order in rounds:
            for target in order:
                print(f"[gateway] saturating {target.name} for {per_run:.0f}s", flush=True)
                runs[target.name].append(saturate(target, per_run, script))
        saturation = {name: mean_run(rows) for name, rows in runs.items()}
        rate = saturation[DIRECT]["requests_per_second"] / 4
        runs = {t.name: [] for t in targets}
        for order in rounds:
            for target in order:
                print(f"[gateway] {target.name} at {rate:.0f} requests/s", flush=True)
                runs[target.name].append(
                    wrk(target.port, per_run, script, connections=MODERATE_CONNECTIONS, rate=rate)
                )
        moderate = {name: mean_run(rows) for name, rows in runs.items()}
    finally:
        group.stop_all()
        if not keep:
            for name in databases:
                drop_database(name)
    result: dict[str, Any] = {
        "seconds_per_run": seconds,
        "connections": CONNECTIONS,
        "moderate_rate": round(rate, 1),
        "saturation": saturation,
        "moderate": moderate,
        "logs": str(folder),
    }
    gw = saturation["gateway monolith"]["requests_per_second"]
    direct_p50 = moderate[DIRECT]["p50_ms"]
    result["added_p50_ms"] = {
        name: round(row["p50_ms"] - direct_p50, 2) for name, row in moderate.items()
    }
    shadow = saturation["gateway shadow"]["requests_per_second"]
    cpu = {
        name: row["proxy_cpu_ms_per_request"]
        for name, row in saturation.items()
        if "proxy_cpu_ms_per_request" in row
    }
    result["proxy_cpu_ms_per_request"] = {name: _shown(value) for name, value in cpu.items()}
    result["shadow"] = shadow_costs(saturation)
    result["summary"] = {
        "over_nginx": ratio(gw, saturation[NGINX]["requests_per_second"]),
        "over_revproxy": ratio(gw, saturation[REVPROXY]["requests_per_second"]),
        "added_p50_ms": result["added_p50_ms"]["gateway monolith"],
        "shadow_cost": round(1 - shadow / gw, 3) if gw else None,
        "proxy_cpu_ms_per_request": _shown(cpu.get("gateway monolith")),
        # Issue 19: the gateway's CPU per proxied request over nginx's, in the same run.
        "cpu_over_nginx": ratio(cpu.get("gateway monolith"), cpu.get(NGINX)),
        "nginx_cpu_ms_per_request": _shown(cpu.get(NGINX)),
        "revproxy_cpu_over_gateway": ratio(cpu.get(REVPROXY), cpu.get("gateway monolith")),
        "shadow_cpu_over_monolith": ratio(cpu.get("gateway shadow"), cpu.get("gateway monolith")),
        "shadow_own_cpu_ms_per_mirror": result["shadow"]["own_cpu_ms_per_mirror"],
        "shadow_service_cpu_ms_per_mirror": result["shadow"]["service_cpu_ms_per_mirror"],
    }
    result["tables"] = [t.to_dict() for t in tables(result)]
    return result


def _shown(value: float | None) -> float | None:
    """A CPU figure in ms as the summary shows it (1 µs); ratios use the unrounded one."""
    return None if value is None else round(value, 3)


def shadow_costs(saturation: dict[str, Any]) -> dict[str, float | None]:
    """Shadow mode's cost per mirrored request, its own apart from the backend work it causes.

    Its own: the shadow gateway's CPU per request less the monolith-mode gateway's (the same
    requests, answered the same way, but not mirrored), per mirror. The backend's: the extracted
    service's CPU per mirror while the shadow gateway ran (it serves nothing else then).
    """
    shadow, plain = saturation["gateway shadow"], saturation["gateway monolith"]
    share = shadow.get("mirrored_share") or None
    own = service = None
    if share and "proxy_cpu_ms_per_request" in shadow and "proxy_cpu_ms_per_request" in plain:
        extra = shadow["proxy_cpu_ms_per_request"] - plain["proxy_cpu_ms_per_request"]
        own = round(extra / share, 3)
    if share and "service_cpu_ms_per_request" in shadow:
        service = round(shadow["service_cpu_ms_per_request"] / share, 3)
    return {
        "mirrored_share": share,
        "own_cpu_ms_per_mirror": own,
        "service_cpu_ms_per_mirror": service,
    }


def tables(result: dict[str, Any]) -> list[Table]:
    """The printed (and rendered) tables of a gateway result."""
    sat = Table(
        f"Gateway at saturation (wrk, {result['connections']} connections)",
        [
            "path",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "gateway monolith / this",
            "proxy CPU ms/request",
            "service CPU ms/request",
        ],
    )
    gw = result["saturation"]["gateway monolith"]["requests_per_second"]
    for name, row in result["saturation"].items():
        sat.add(
            name,
            row["requests_per_second"],
            row["p50_ms"],
            row["p99_ms"],
            row["errors"] + row["non_2xx"],
            ratio(gw, row["requests_per_second"]),
            row.get("proxy_cpu_ms_per_request", "-"),
            row.get("service_cpu_ms_per_request", "-"),
        )
    mod = Table(
        f"Latency at a moderate rate ({result['moderate_rate']:.0f} requests/s, "
        "a quarter of direct's maximum)",
        ["path", "requests/s", "p50 ms", "p99 ms", "added p50 ms"],
    )
    for name, row in result["moderate"].items():
        mod.add(
            name,
            row["requests_per_second"],
            row["p50_ms"],
            row["p99_ms"],
            result["added_p50_ms"][name],
        )
    summary = result.get("summary", {})
    shadow = result.get("shadow", {})
    cpu = Table(
        "CPU per request: the gateway against nginx, and shadow mode's cost per mirror",
        ["figure", "ms or ratio"],
    )
    cpu.add("gateway (monolith mode) CPU ms/request", summary.get("proxy_cpu_ms_per_request"))
    cpu.add("nginx CPU ms/request", summary.get("nginx_cpu_ms_per_request"))
    cpu.add("gateway / nginx", summary.get("cpu_over_nginx"))
    cpu.add("shadow: the gateway's own CPU ms per mirror", shadow.get("own_cpu_ms_per_mirror"))
    cpu.add("shadow: the service's CPU ms per mirror", shadow.get("service_cpu_ms_per_mirror"))
    cpu.add("shadow: mirrored share of requests", shadow.get("mirrored_share"))
    return [sat, mod, cpu]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds this may take")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(args.seconds, Budget(args.budget), keep=args.keep)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print_tables([Table.from_dict(t) for t in result["tables"]])
    path = write_result("gateway", result, args.results_dir)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
