"""The Markdown report: figures, ratios against plain Flask and myapp, and the issue's targets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bench.frameworks.stacks import BASELINE, BY_KEY, FLOOR, OURS

ENDPOINT_KEYS = ("ping", "list", "create", "invalid", "limited")
#: The endpoints issue 8's speed targets name.
TARGET_KEYS = ("ping", "list", "create")
# Added cost a Redis limiter may have over one bare EVALSHA round trip (issue 8).
LIMITER_SLACK_US = 20.0
#: The reference builds that do one bare EVALSHA in the view instead of limiting: of
#: myapp's limiter's own script (the floor the target is judged on), and of `return 1`.
SAME_SCRIPT_FLOOR = "GCRA EVALSHA only"
TRIVIAL_FLOOR = "EVALSHA only"
IN_VIEW_FLOORS = (SAME_SCRIPT_FLOOR, TRIVIAL_FLOOR)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table, first column left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _labels(keys: Iterable[str]) -> list[str]:
    return [f"`{BY_KEY[key].label}`" for key in keys]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _stack_label(row: Any) -> str:
    return f"{row.stack} (ASGI, direct)" if row.interface == "asgi" else row.stack


# In-process ----------------------------------------------------------------


def _inprocess_grid(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Stack -> endpoint -> Row, leaving out the limiter-off baselines and the EVALSHA floor."""
    grid: dict[str, dict[str, Any]] = {}
    for row in result["rows"]:
        if not row.variant and row.stack != "redis-py":
            grid.setdefault(row.stack, {})[row.endpoint] = row
    return grid


def inprocess_section(result: dict[str, Any]) -> list[str]:
    """Cost per request, then each stack against plain Flask and myapp against each peer."""
    grid = _inprocess_grid(result)
    keys = [k for k in ENDPOINT_KEYS if any(k in rows for rows in grid.values())]
    lines = [
        "## In-process cost per request",
        "",
        f"Median (min) µs per request over {result['rounds']} interleaved rounds of about "
        f"{result['seconds_per_case']} s per case. WSGI stacks are called directly; FastAPI "
        "is awaited directly as an ASGI app on one uvloop loop. The builds of `GET /limited` "
        "take turns request by request within each round instead.",
        "",
    ]

    def cell(stack: str, key: str) -> str:
        row = grid[stack].get(key)
        return "—" if row is None else f"{row.median:.1f} ({row.minimum:.1f})"

    first = {stack: next(iter(rows.values())) for stack, rows in grid.items()}
    lines += table(
        ["stack", *_labels(keys)],
        ([_stack_label(first[s]), *(cell(s, k) for k in keys)] for s in grid),
    )

    def ratio(stack: str, other: str, key: str) -> float | None:
        a, b = grid[stack].get(key), grid.get(other, {}).get(key)
        return None if a is None or b is None else a.median / b.median

    if BASELINE in grid:
        lines += [
            f"### Each stack vs plain {BASELINE} (cost ratio; below 1.00 is cheaper)",
            "",
            *table(
                ["stack", *_labels(keys)],
                (
                    [_stack_label(first[s]), *(_ratio(ratio(s, BASELINE, k)) for k in keys)]
                    for s in grid
                ),
            ),
        ]
    if OURS in grid:
        lines += [
            f"### {OURS} vs each peer (peer's cost / {OURS}'s; above 1.00 means {OURS} is faster)",
            "",
            *table(
                ["peer", *_labels(keys)],
                (
                    [_stack_label(first[s]), *(_ratio(ratio(s, OURS, k)) for k in keys)]
                    for s in grid
                    if s != OURS
                ),
            ),
        ]
    return lines


def limiter_figures(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per limited build: /limited, the same app without limiter, added cost, round trips.

    Keys are the stack, or "stack (variant)" for the LIMITER_VARIANTS builds; the
    tight-loop EVALSHA floors are under "redis-py", by script ("gcra", "return 1").
    """
    rows = {(row.stack, row.endpoint, row.variant): row for row in result["rows"]}
    figures: dict[str, dict[str, Any]] = {}
    for (stack, endpoint, variant), row in rows.items():
        off = rows.get((stack, "limited", "limiter off"))
        if endpoint == "limited" and variant != "limiter off" and off is not None:
            figures[row.name] = {
                "stack": stack,
                "variant": variant,
                "limited_us": row.median,
                "off_us": off.median,
                "added_us": row.median - off.median,
                "round_trips": sum(result["round_trips"].get(row.name, {}).values()),
            }
    loops = {
        endpoint.removeprefix("evalsha "): row.median
        for (stack, endpoint, _), row in rows.items()
        if stack == "redis-py"
    }
    if loops:
        figures["redis-py"] = loops
    return figures


def limiter_section(result: dict[str, Any], limiters: dict[str, str]) -> list[str]:
    """The Redis limiters: added cost, against the EVALSHA floors, and round trips."""
    figures = limiter_figures(result)
    loops = figures.pop("redis-py", {})
    if not figures or not loops:
        return []
    in_view = {
        f["variant"]: f["added_us"] for f in figures.values() if f["variant"] in IN_VIEW_FLOORS
    }
    lines = [
        "## Redis limiters (in-process)",
        "",
        "Added cost: median of `GET /limited` with the limiter minus the same app built "
        "without it. Round trips: top-level commands per request seen by redis-server "
        "(its MONITOR feed; commands run inside Lua scripts are not counted). Every "
        "limiter sends rate-limit headers, as myapp does, except three references: "
        "`no headers`, flask-limiter's default, which skips the two reads behind them; and "
        f"`{SAME_SCRIPT_FLOOR}` and `{TRIVIAL_FLOOR}`, no limiter at all but one bare "
        "redis-py EVALSHA in the view, of myapp's limiter's own script and of `return 1`: "
        "the floors of a one-round-trip limiter inside a request.",
        "",
        "Bare redis-py `EVALSHA` in a tight loop (one round trip): "
        + "; ".join(f"`{script}` **{us:.1f} µs**" for script, us in loops.items())
        + ".",
        "",
    ]
    ours = figures.get(OURS, {}).get("added_us")
    rows = []
    for name, f in figures.items():
        trips = result["round_trips"].get(name, {})
        detail = ", ".join(f"{command} {count:.2f}" for command, count in sorted(trips.items()))
        vs_ours = None if not ours or name == OURS else f["added_us"] / ours
        limiter = "none" if f["variant"] in IN_VIEW_FLOORS else limiters.get(f["stack"], "")
        over = [
            "—" if floor not in in_view else f"{f['added_us'] - in_view[floor]:+.1f}"
            for floor in IN_VIEW_FLOORS
        ]
        rows.append(
            [
                name,
                limiter,
                f"{f['limited_us']:.1f}",
                f"{f['off_us']:.1f}",
                f"{f['added_us']:.1f}",
                *over,
                f"{f['round_trips']:.2f} ({detail})",
                _ratio(vs_ours),
            ]
        )
    header = ["stack", "limiter", "limited µs", "without µs", "added µs"]
    header += [f"added - `{floor}` µs" for floor in IN_VIEW_FLOORS]
    header += ["round trips/request", f"added / {OURS}'s added"]
    lines += table(header, rows)
    return lines


# HTTP ----------------------------------------------------------------------


def http_section(result: dict[str, Any]) -> list[str]:
    """Throughput and p99 per stack and server, then the ratios."""
    grid: dict[tuple[str, str], dict[str, Any]] = {}
    for row in result["results"]:
        grid.setdefault((row.stack, row.server), {})[row.endpoint] = row
    keys = [k for k in ENDPOINT_KEYS if any(k in rows for rows in grid.values())]
    lines = [
        "## HTTP throughput",
        "",
        f"wrk on 127.0.0.1: 1 thread, {result['connections']} connections, "
        f"{result['seconds']} s per run, median of {result['rounds']} interleaved round(s); "
        f"{result['workers']} workers per server (gthread: {result['gthread_threads']} threads "
        "each). Cells: req/s, p99 latency in ms. A ⚠ marks runs with socket errors, or "
        "non-2xx answers where none were expected.",
        "",
    ]
    servers = {server for _stack, server in grid}
    if any(stack != OURS and "gthread" not in server for stack, server in grid) and any(
        "gthread" in server for server in servers
    ):
        lines += [
            "gunicorn sync closes the connection after every response, gthread keeps it "
            f"alive; only {OURS} ran under both here, so compare it with the other Flask "
            "stacks under sync, like for like (`--gthread-all` runs them all under both).",
            "",
        ]

    def cell(row: Any) -> str:
        expected_errors = row.endpoint == "invalid"
        errors = row.count("socket_errors") + (0 if expected_errors else row.count("non_2xx"))
        return f"{row.rps:,.0f} / {row.p99_ms:.1f}" + (" ⚠" if errors else "")

    def name(stack: str, server: str) -> str:
        return f"{stack} ({server})"

    lines += table(
        ["stack (server)", *_labels(keys)],
        (
            [name(*key), *(cell(rows[k]) if k in rows else "—" for k in keys)]
            for key, rows in grid.items()
        ),
    )

    def ratio(key: tuple[str, str], other: tuple[str, str] | None, endpoint: str) -> float | None:
        a, b = grid[key].get(endpoint), grid.get(other, {}).get(endpoint) if other else None
        return None if a is None or b is None else a.rps / b.rps

    baseline = next((key for key in grid if key[0] == BASELINE), None)
    if baseline:
        lines += [
            f"### Each stack vs plain {name(*baseline)} (req/s ratio; above 1.00 is faster)",
            "",
            *table(
                ["stack (server)", *_labels(keys)],
                ([name(*key), *(_ratio(ratio(key, baseline, k)) for k in keys)] for key in grid),
            ),
        ]
    ours = [key for key in grid if key[0] == OURS]
    if ours:
        header = " / ".join(server for _stack, server in ours)
        lines += [
            f"### {OURS} vs each peer (myapp's req/s / peer's; above 1.00 means {OURS} is "
            f"faster), {OURS} under {header}",
            "",
            *table(
                ["peer (server)", *_labels(keys)],
                (
                    [
                        name(*key),
                        *(" / ".join(_ratio(ratio(mine, key, k)) for mine in ours) for k in keys),
                    ]
                    for key in grid
                    if key[0] != OURS
                ),
            ),
        ]
    return lines


# Targets -------------------------------------------------------------------


#: The production servers, both held to their promises by the drills: granian
#: (serve.py), the faster, on which the HTTP target is judged, and gunicorn sync
#: (gunicorn.conf.py), reported beside it.
PRODUCTION = "granian"
ALSO_DRILLED = "gunicorn sync"
#: The peer issue 8's HTTP target names, on each of its servers: uvicorn, and granian
#: (ASGI), the server myapp is judged on. Which is faster varies; both are judged.
RIVAL = "FastAPI"
RIVAL_SERVERS = ("uvicorn", "granian")


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets_section(inprocess: dict[str, Any] | None, http: dict[str, Any] | None) -> list[str]:
    """Issue 8's targets, each with this run's figure and whether it is met."""
    lines = ["## Issue 8's targets in this run", ""]
    if inprocess:
        grid = _inprocess_grid(inprocess)
        mine = grid.get(OURS, {})
        for key in TARGET_KEYS:
            if key in mine and key in grid.get(BASELINE, {}):
                r = mine[key].median / grid[BASELINE][key].median
                lines.append(
                    f"- in-process `{BY_KEY[key].label}`: {OURS} costs {r:.2f}x plain "
                    f"{BASELINE} (target <= 1.00): {_verdict(r <= 1.0)}"
                )
        for peer in ("APIFlask", "flask-smorest"):
            for key in ("list", "create"):
                if key in mine and key in grid.get(peer, {}):
                    r = grid[peer][key].median / mine[key].median
                    lines.append(
                        f"- in-process `{BY_KEY[key].label}`: {peer} costs {r:.2f}x what "
                        f"{OURS} does (target >= 2.00): {_verdict(r >= 2.0)}"
                    )
        figures = limiter_figures(inprocess)
        ours = figures.get(OURS)
        same_script = figures.get(f"{BASELINE} ({SAME_SCRIPT_FLOOR})")
        if ours and same_script:
            trips = ours["round_trips"]
            added = ours["added_us"]
            over = added - same_script["added_us"]
            lines.append(
                f"- Redis limiter round trips per request: {trips:.2f} (target 1): "
                f"{_verdict(abs(trips - 1) < 0.01)}"
            )
            lines.append(
                f"- Redis limiter added cost: {added:.1f} µs; one bare EVALSHA of its own "
                f"script inside a plain {BASELINE} view adds {same_script['added_us']:.1f} "
                f"µs: {over:+.1f} µs (target <= +{LIMITER_SLACK_US:.0f}): "
                f"{_verdict(over <= LIMITER_SLACK_US)}"
            )
            loops = figures.get("redis-py", {})
            trivial = figures.get(f"{BASELINE} ({TRIVIAL_FLOOR})")
            references = [
                f"{script}` in a tight loop {added - us:+.1f}" for script, us in loops.items()
            ]
            if trivial:
                references.append(f"return 1` inside a view {added - trivial['added_us']:+.1f}")
            lines.append(
                "- (for reference) the limiter's added cost over other bare EVALSHA floors, µs: "
                + "; ".join(f"`{text}" for text in references)
            )
            for name, f in figures.items():
                if name in (OURS, "redis-py") or f["variant"] in IN_VIEW_FLOORS or added <= 0:
                    continue
                r = f["added_us"] / added
                if f["variant"]:  # not the same contract: reported, not judged
                    lines.append(
                        f"- (for reference) flask-limiter {f['variant']} on {f['stack']} adds "
                        f"{r:.2f}x what {OURS}'s Redis limiter adds"
                    )
                else:
                    lines.append(
                        f"- flask-limiter on {name} adds {r:.2f}x what {OURS}'s Redis limiter "
                        f"adds (target >= 1.50): {_verdict(r >= 1.5)}"
                    )
    if http:
        rows = {(row.stack, row.server, row.endpoint): row for row in http["results"]}
        for key in TARGET_KEYS:
            lines += _http_targets(rows, key)
    return [*lines, ""]


def _http_targets(rows: dict[tuple[str, str, str], Any], key: str) -> list[str]:
    """One endpoint's HTTP lines: myapp on granian against FastAPI on each of its servers
    (judged), on gunicorn sync against FastAPI on uvicorn, and against the bare WSGI
    floor on granian (both for reference)."""

    def versus(a: Any, who: str, b: Any) -> str:
        return (
            f"HTTP `{BY_KEY[key].label}`: {OURS} ({a.server}) {a.rps:,.0f} req/s vs "
            f"{who} ({b.server}) {b.rps:,.0f}, {a.rps / b.rps:.2f}x"
        )

    lines = []
    mine = rows.get((OURS, PRODUCTION, key))
    for server in RIVAL_SERVERS:
        rival = rows.get((RIVAL, server, key))
        if mine and rival:
            verdict = _verdict(mine.rps >= rival.rps)
            lines.append(f"- {versus(mine, RIVAL, rival)} (target >= 1.00): {verdict}")
    other = rows.get((OURS, ALSO_DRILLED, key))
    rival = rows.get((RIVAL, RIVAL_SERVERS[0], key))
    if other and rival:
        lines.append(f"- {versus(other, RIVAL, rival)} (for reference: the other drilled server)")
    floor = rows.get((FLOOR, PRODUCTION, key))
    if mine and floor:
        lines.append(f"- (for reference) {versus(mine, f'the {FLOOR} floor', floor)}")
    return lines
