"""The AITL dashboard drawn as one self-contained HTML page (``render_html(model)``).

The model comes from ``aitl.ui.dashboard``. The plots are inline SVG computed
here, with no script, stylesheet or font to download (the page must work
inside an air-gapped Airflow UI, and a page without scripts cannot run an
injected one). All text that comes from the store goes through
``html.escape``: prompt text, comments, signals and segment values originate
in platform events and are untrusted.
"""

from __future__ import annotations

from typing import Any

from aitl.loop.insights import describe_segment
from aitl.ui.charts import CHART_W, episode_span, forest, line_chart, svg, volume_chart
from aitl.ui.completeness import DAILY_DAG, facts
from aitl.ui.dashboard import REVIEW_DAG
from aitl.ui.markup import (
    COLORS,
    NONE,
    OTHER,
    SEVERITY_COLORS,
    Safe,
    esc,
    finite,
    hour_label,
    join_safe,
    num,
    p_text,
    pct,
)

STYLE = """
:root { color-scheme: light dark; --fg: #1f2933; --muted: #616e7c; --line: #d9dee3; --bg: #fff;
  --card: #f7f9fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e7eb; --muted: #9aa5b1; --line: #3e4c59;
  --bg: #1f2933; --card: #27333f; } }
body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 16px 24px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.muted { color: var(--muted); } .notice { background: #fff3cd; color: #5c4400; padding: 8px 12px; }
form { margin: 8px 0 16px; } input { width: 13em; } a { color: #1e88e5; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; }
.tile { background: var(--card); padding: 8px 14px; min-width: 9em; border-radius: 6px; }
.tile b { display: block; font-size: 20px; }
svg { display: block; max-width: 100%; height: auto; } svg text { fill: var(--fg); font-size: 11px; }
svg text.muted { fill: var(--muted); }
.axis { stroke: var(--line); } .series { fill: none; stroke: #1e88e5; stroke-width: 1.5; }
.point { fill: #1e88e5; }
table { border-collapse: collapse; width: 100%; margin-bottom: 8px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.badge { color: #fff; padding: 1px 6px; border-radius: 4px; }
pre { white-space: pre-wrap; margin: 0; font: 12px ui-monospace, monospace; }
pre.cmd { background: var(--card); padding: 4px 8px; margin: 2px 0; user-select: all;
  overflow-wrap: anywhere; }
.good { color: #2e7d32; } .tile .good { display: block; padding-top: 4px; }
tr.cmds td { border-bottom: 2px solid var(--line); padding-top: 0; }
"""
# Nothing may be fetched (no script, stylesheet, image or font) and no script runs: the page is
# complete as served, and markup injected by a missed escape could not act.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"


def render_html(model: dict[str, Any]) -> str:
    """The view model as one HTML page (see the module docstring for why it is built this way)."""
    window = model["window"]
    title = f"AITL: {hour_label(window['start'])} to {hour_label(window['end'])} UTC"
    body = [
        Safe(f"<h1>{esc(title)}</h1>"),
        _picker(window),
        Safe(f'<p class="notice">{esc(model["notice"])}</p>') if model["notice"] else Safe(""),
        _tiles(model["tiles"]),
        _completeness_section(model["completeness"]),
        _trends(model["series"], model["charted"], model["anomalies"], model["good_news"]),
        _pipeline_section(model["pipeline"], model["effectiveness"]),
        _review_section(model["pipeline"]),
        _experiments_section(model["experiments"]),
        _patterns_section(model["patterns"]),
        _insights_section(model["insights"]),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>{join_safe(body)}</body></html>"
    )


QUICK_SPANS = ((1, "24 hours"), (7, "7 days"), (30, "30 days"))


def _picker(window: dict[str, Any]) -> Safe:
    """GET form for any window plus quick spans; relative URLs keep working behind a proxy prefix.

    Without an end the window ends at the store's latest data, so the quick
    spans are the latest days of data (the same as the last days on a live store).
    """
    quick = " · ".join(f'<a href="?days={d}">latest {esc(label)}</a>' for d, label in QUICK_SPANS)
    latest = window.get("latest_data")
    data = f" · data until {esc(hour_label(latest))} UTC" if latest else ""
    return Safe(
        '<form method="get">'
        f'<label>start <input name="start" value="{esc(window["start"])}"></label> '
        f'<label>end <input name="end" value="{esc(window["end"])}"></label> '
        f'<button type="submit">Show</button> <span class="muted">ISO 8601, UTC · {quick}{data}</span></form>'
    )


def _reported(value: float | None, events: int) -> str:
    """A mean of an optional metric: "not reported" when there were events but none carried it."""
    return "not reported" if value is None and events else num(value)


def _tiles(tiles: dict[str, Any]) -> Safe:
    """The model's headline numbers (counted there: improvements from the pipeline's one query)."""
    shown = [
        ("events", f"{tiles['events']:,}"),
        ("success rate", pct(tiles["success_rate"])),
        ("mean quality", _reported(tiles["mean_quality"], tiles["events"])),
        ("error rate", pct(tiles["error_rate"])),
        ("anomaly episodes", str(tiles["anomaly_episodes"])),
        ("experiments running", str(tiles["running"])),
        ("awaiting review", str(tiles["proposed"])),
        ("promoted / rolled back", f"{tiles['promoted']} / {tiles['rolled_back']}"),
    ]
    cells = [
        f'<div class="tile" data-tile="{esc(k)}"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
        for k, v in shown
    ]
    # Anomalies for the better are good news, not alarms: counted apart, and small.
    good = tiles["good_news_episodes"]
    cells.append(
        f'<div class="tile" data-tile="good news"><span class="muted">good news</span>'
        f'<span class="good">{good} {"episode" if good == 1 else "episodes"} better than usual</span></div>'
    )
    return Safe(f'<div class="tiles">{join_safe(cells)}</div>')


# ---- how complete the data was


def _completeness_section(data: dict[str, Any]) -> Safe:
    """A line saying how complete the data was, the skipped landing files, and the days to rerun."""
    skipped = data["skipped"]
    if data["daily"] is None and not (
        data["late_events"] or data["replayed"] or skipped["count"] or data["late_days"]
    ):
        return Safe("")  # no daily run and nothing late or skipped: nothing to say
    parts = [Safe(f"<p class='muted'>Data: {esc(' · '.join(facts(data)))}.</p>")]
    if skipped["files"]:
        rows = [[f["path"], f["reason"]] for f in skipped["files"]]
        shown = f"{len(rows)} shown" if len(rows) < skipped["count"] else "all shown"
        summary = f"skipped landing files ({shown}; paths inside the landing folder)"
        parts.append(_details(summary, _table(["file", "why it was skipped"], rows)))
    days = data["late_days"]
    if days:
        parts.append(
            Safe(
                f"<h2>Days to rerun <span class='muted'>({len(days)} {'day' if len(days) == 1 else 'days'} "
                "analysed before some of their events arrived: rerun each by triggering the DAG "
                f"{esc(DAILY_DAG)}; the run replaces the day's results)</span></h2>"
            )
        )
        rows = [
            (
                [d["day"], hour_label(d["analysed_at"]), d["hours"], hour_label(d["last_at"])],
                [d["command"]],
            )
            for d in days
        ]
        headers = ["day", "analysed (UTC)", "hours with events since", "latest arrival (UTC)"]
        parts.append(_command_table(headers, rows))
    return join_safe(parts)


# ---- hourly trends


def _trends(
    series: list[dict[str, Any]],
    charted: list[str],
    anomalies: list[dict[str, Any]],
    good_news: list[dict[str, Any]],
) -> Safe:
    heading = Safe(
        "<h2>Hourly trends <span class='muted'>(bands: anomaly episodes platform-wide, dots at their "
        "peaks, red for the worse, green for the better; ticks on the axis: a segment's peak)</span></h2>"
    )
    if not any(p["n"] for p in series):
        return Safe(f"{heading}<p class='muted'>No events in this window.</p>")
    index = {p["hour"]: i for i, p in enumerate(series)}
    flagged = [(index[a["hour"]], a) for a in [*anomalies, *good_news] if a["hour"] in index]
    charts = [volume_chart(series)]
    for metric in charted:
        charts.append(line_chart(series, metric, [(i, a) for i, a in flagged if a["metric"] == metric]))
    return join_safe([heading, *charts, _anomaly_tables(anomalies, good_news)])


def _anomaly_tables(anomalies: list[dict[str, Any]], good_news: list[dict[str, Any]]) -> Safe:
    """The adverse anomaly episodes of every segment and metric, and apart from them the good news."""
    parts = [
        _details(f"{len(anomalies)} anomaly episodes for the worse (all segments)", _anomaly_table(anomalies))
        if anomalies
        else Safe("<p class='muted'>No anomaly episodes for the worse found in this window.</p>")
    ]
    if good_news:
        summary = f"good news: {len(good_news)} anomaly episodes for the better (all segments)"
        parts.append(_details(summary, _anomaly_table(good_news)))
    return join_safe(parts)


def _anomaly_table(anomalies: list[dict[str, Any]]) -> Safe:
    """One row per episode: when (first to last anomalous hour), its peak, where, and its q-value."""
    rows = [
        [
            episode_span(a),
            hour_label(a["hour"])[11:],
            a["metric"],
            describe_segment(a["segment"]),
            a["hours"],
            num(a["value"]),
            num(a["expected"]),
            num(a["score"]),
            num(a["q_value"], 2),
        ]
        for a in anomalies
    ]
    headers = ["when (UTC)", "peak", "metric", "where", "hours", "peak value", "usual", "score", "q"]
    return _table(headers, rows, numeric_from=4)


# ---- tables


def _table(headers: list[str], rows: list[list[Any]], numeric_from: int | None = None) -> Safe:
    """A table whose every cell is escaped unless it is ``Safe`` markup built here."""
    head = join_safe(f"<th>{esc(h)}</th>" for h in headers)

    def cell(k: int, value: Any) -> str:
        numeric = numeric_from is not None and k >= numeric_from
        return f"<td{' class=num' if numeric else ''}>{esc(value)}</td>"

    body = join_safe(f"<tr>{join_safe(cell(k, v) for k, v in enumerate(row))}</tr>" for row in rows)
    return Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _details(summary: str, content: str) -> Safe:
    return Safe(f"<details><summary>{esc(summary)}</summary>{content}</details>")


def _badge(label: str, color: str) -> Safe:
    return Safe(f'<span class="badge" style="background:{esc(color)}">{esc(label)}</span>')


def _patterns_section(patterns: list[dict[str, Any]]) -> Safe:
    heading = Safe("<h2>Top patterns <span class='muted'>(strongest of each kind, latest run)</span></h2>")
    if not patterns:
        return Safe(f"{heading}<p class='muted'>No patterns found in this window.</p>")
    rows = [
        [
            p["signal"],
            f"{p['kind']} · {p['category']}/{p['subtype']}",
            describe_segment(p["segment"]),
            f"{p['count']:,} / {p['segment_n']:,}",
            pct(p["rate"]),
            f"{num(p['lift'])}x" if finite(p["lift"]) else NONE,
            p_text(p["p_value"]),
            f"{p['runs']} {p['level']}",
        ]
        for p in patterns
    ]
    headers = ["signal", "kind", "where", "events", "rate", "lift", "p", "runs"]
    note = (
        "<p class='muted'>rate: share of the segment's executions with the signal (frequency), "
        "of sessions (sequence), the rule's confidence, or |r| (correlation).</p>"
    )
    return join_safe([heading, _table(headers, rows, numeric_from=3), Safe(note)])


def _insights_section(groups: list[dict[str, Any]]) -> Safe:
    """Insights grouped by root cause: each with its q-value, why it is here, and its parts on demand."""
    heading = Safe(
        "<h2>Insights <span class='muted'>(by root cause, most severe first; q: the false discovery "
        "rate at which the finding still stands)</span></h2>"
    )
    if not groups:
        return Safe(f"{heading}<p class='muted'>No insights in this window.</p>")
    rows = []
    for group in groups:
        if len(group["insights"]) > 1:
            rows.append(Safe(f"<tr><th colspan=5>root cause: {esc(group['cause'])}</th></tr>"))
        rows.extend(_insight_row(i) for i in group["insights"])
    head = join_safe(f"<th>{h}</th>" for h in ("severity", "finding", "taxonomy", "q", "seen"))
    return Safe(f"{heading}<table><thead><tr>{head}</tr></thead><tbody>{join_safe(rows)}</tbody></table>")


def _insight_row(insight: dict[str, Any]) -> Safe:
    finding = esc(insight["title"])
    if insight["why"]:
        finding += Safe(f"<br><span class='muted'>why: {esc(insight['why'])}</span>")
    if insight["sub_segments"]:
        parts = _table(
            ["sub-segment", "events", "rate"],
            [
                [describe_segment(p["segment"]), f"{p['count']:,} / {p['segment_n']:,}", pct(p["rate"])]
                for p in insight["sub_segments"]
            ],
            numeric_from=1,
        )
        shown, count = len(insight["sub_segments"]), insight["sub_segment_count"]
        summary = f"{count} sub-segments share this cause" + (
            f" (the {shown} largest)" if count > shown else ""
        )
        finding += _details(summary, parts)
    seen = ", ".join(f"{n} {level}" for level, n in sorted(insight["seen"].items()))
    cells = [
        _badge(insight["severity"], SEVERITY_COLORS.get(insight["severity"], OTHER)),
        Safe(finding),
        esc(f"{insight['category']}/{insight['subtype']}"),
        esc(p_text(insight["q_value"]) if insight["q_value"] is not None else NONE),
        esc(seen),
    ]
    tds = "".join(f"<td{' class=num' if k >= 3 else ''}>{cell}</td>" for k, cell in enumerate(cells))
    return Safe(f"<tr>{tds}</tr>")


# ---- improvement pipeline and experiments


def _pipeline_section(pipeline: dict[str, Any], effectiveness: dict[str, Any] | None) -> Safe:
    heading = Safe("<h2>Improvement pipeline <span class='muted'>(current status)</span></h2>")
    counts = pipeline["counts"]
    if not counts:
        return Safe(f"{heading}<p class='muted'>No improvements in this window.</p>")
    rows = [
        [
            _badge(i["status"], COLORS.get(i["status"], OTHER)),
            # The id is what the review DAG asks for to approve or reject a proposal.
            i["id"],
            f"{i['type']} → {i['target_id']} (priority {i['priority']})",
            Safe(f"<pre>{esc(i['modification'])}</pre>"),
            i["status_reason"],
            hour_label(i["updated_at"]),
        ]
        for i in pipeline["items"]
    ]
    table = _table(["status", "improvement id", "change", "modification", "why", "updated (UTC)"], rows)
    latest = f"{len(pipeline['items'])} most recently updated"
    return join_safe([heading, _pipeline_strip(counts), _loop_line(effectiveness), _details(latest, table)])


def _review_section(pipeline: dict[str, Any]) -> Safe:
    """Each proposed improvement with the commands that review it (click a command to select it)."""
    review = pipeline["review"]
    if not review:
        return Safe("")
    heading = Safe(
        f"<h2>Awaiting review <span class='muted'>({pipeline['review_total']} proposed: approve by "
        f"triggering the DAG {esc(REVIEW_DAG)}, or with the AITL CLI; "
        "write &quot;reject&quot; for &quot;approve&quot; to reject, and say why in the note)</span></h2>"
    )
    rows = []
    for i in review:
        weight = f"priority {i['priority']}, confidence {num(i['confidence'])}"
        change = f"{i['type']} → {i['target_id']} ({weight})"
        cells = [i["id"], change, Safe(f"<pre>{esc(i['modification'])}</pre>"), i["status_reason"]]
        rows.append((cells, [i["commands"]["airflow"], i["commands"]["cli"]]))
    table = _command_table(["improvement id", "change", "modification", "why proposed"], rows)
    more = pipeline["review_total"] - len(review)
    note = Safe(f"<p class='muted'>and {more} more, not shown.</p>") if more > 0 else Safe("")
    return join_safe([heading, table, note])


def _command_table(headers: list[str], rows: list[tuple[list[Any], list[str]]]) -> Safe:
    """A table whose every row is followed by its commands, ready to copy (a click selects one)."""
    head = join_safe(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for cells, commands in rows:
        body.append(f"<tr>{join_safe(f'<td>{esc(c)}</td>' for c in cells)}</tr>")
        # The commands get the table's whole width, under the row they act on.
        shown = join_safe(f'<pre class="cmd">{esc(c)}</pre>' for c in commands)
        body.append(f'<tr class="cmds"><td colspan="{len(headers)}">{shown}</td></tr>')
    return Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{join_safe(body)}</tbody></table>")


def _pipeline_strip(counts: dict[str, int]) -> Safe:
    """One bar split by status, left to right as improvements move through the loop."""
    total = sum(counts.values())
    width, x, parts = CHART_W - 2, 1.0, []
    for status, n in counts.items():
        w = width * n / total
        color = COLORS.get(status, OTHER)
        parts.append(
            f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="26" fill="{esc(color)}">'
            f"<title>{esc(status)}: {n}</title></rect>"
        )
        if w > 60:
            parts.append(f'<text x="{x + 6:.1f}" y="21" style="fill:#fff">{esc(status)} {n}</text>')
        x += w
    legend = " · ".join(f"{_badge(s, COLORS.get(s, OTHER))} {n}" for s, n in counts.items())
    return Safe(svg("improvements by status", parts, height=34) + f"<p>{legend}</p>")


def _loop_line(effectiveness: dict[str, Any] | None) -> Safe:
    if effectiveness is None:
        return Safe("")
    metrics = effectiveness["metrics"]
    totals = metrics.get("totals") or {}
    roi = metrics.get("roi") or {}
    text = (
        f"Loop as of the {effectiveness['level']} run ending {hour_label(effectiveness['window_end'])}: "
        f"{totals.get('promoted', 0)} promoted, {totals.get('rolled_back', 0)} rolled back, "
        f"{totals.get('inconclusive', 0)} inconclusive since the start"
    )
    # Both are undefined until an experiment has ended: leave them out rather than print a dash.
    if finite(metrics.get("improvement_success_rate")):
        text += f"; improvement success rate {pct(metrics['improvement_success_rate'])}"
    if finite(roi.get("extra_successes_per_day")):
        text += f"; extra successes per day {num(roi['extra_successes_per_day'])}"
    text += "."
    return Safe(f"<p class='muted'>{esc(text)}</p>")


def _experiments_section(experiments: list[dict[str, Any]]) -> Safe:
    heading = Safe(
        "<h2>Experiments <span class='muted'>(variant minus control on the deciding metric, "
        "with its interval; colored by decision)</span></h2>"
    )
    if not experiments:
        return Safe(f"{heading}<p class='muted'>No experiment ran in this window.</p>")
    rows = [
        [
            e["id"],
            e["improvement_id"],
            f"{e['prompt_id']} v{e['control_version']} → v{e['variant_version']}",
            Safe(f"<pre>{esc(e['variant_adds'] or e['modification'])}</pre>"),
            _look_text(e["look"]),
        ]
        for e in experiments
    ]
    headers = ["experiment id", "improvement id", "prompt", "what the variant adds", "latest look"]
    table = _table(headers, rows)
    return join_safe([heading, forest(experiments), _details("changes and reasons", table)])


def _look_text(look: dict[str, Any] | None) -> str:
    if look is None:
        return "no look yet"
    when = hour_label(look["at"])
    if look["source"] == "decision":
        return f"daily look {look['look']} ({when}): {look['reason']}"
    return f"latest test ({when}), no decision yet: {look['reason']}"
