"""The AITL dashboard drawn as one self-contained HTML page (``render_html(model)``).

The model comes from ``aitl.ui.dashboard``. The plots are inline SVG computed
here, with no script, stylesheet or font to download (the page must work
inside an air-gapped Airflow UI, and a page without scripts cannot run an
injected one). All text that comes from the store goes through
``html.escape``: prompt text, comments, signals and segment values originate
in platform events and are untrusted.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from typing import Any

from aitl.loop.insights import describe_segment
from aitl.ui.dashboard import REVIEW_DAG


class Safe(str):
    """Markup built here from escaped parts: the one kind of text ``_e`` passes through unchanged."""


def _e(value: Any) -> Safe:
    """Escape anything for HTML text or a quoted attribute (``Safe`` markup stays as it is)."""
    return value if isinstance(value, Safe) else Safe(html.escape("" if value is None else str(value)))


def _join(parts: Iterable[str]) -> Safe:
    return Safe("".join(parts))


NONE = "-"  # a number that does not exist (no events, no estimate yet)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if _finite(value) else NONE


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if _finite(value) else NONE


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if _finite(value) else NONE


def _p(value: Any) -> str:
    if not _finite(value):
        return NONE
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _hour_label(iso: str) -> str:
    return iso[:16].replace("T", " ")


COLORS = {
    "planned": "#90a4ae",
    "proposed": "#f9a825",
    "deferred": "#ffcc80",
    "running": "#1e88e5",
    "continue": "#1e88e5",
    "applied": "#00897b",
    "promoted": "#2e7d32",
    "kept": "#558b2f",
    "rolled_back": "#c62828",
    "inconclusive": "#757575",
    "rejected": "#424242",
}
ADVERSE = "#d32f2f"  # an anomaly for the worse
FAVOURABLE = "#2e7d32"  # an anomaly for the better: good news
SEVERITY_COLORS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#78909c"}
OTHER = "#9e9e9e"

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
    title = f"AITL: {_hour_label(window['start'])} to {_hour_label(window['end'])} UTC"
    body = [
        Safe(f"<h1>{_e(title)}</h1>"),
        _picker(window),
        Safe(f'<p class="notice">{_e(model["notice"])}</p>') if model["notice"] else Safe(""),
        _tiles(model["tiles"]),
        _trends(model["series"], model["charted"], model["anomalies"], model["good_news"]),
        _pipeline_section(model["pipeline"], model["effectiveness"]),
        _review_section(model["pipeline"]),
        _experiments_section(model["experiments"]),
        _patterns_section(model["patterns"]),
        _insights_section(model["insights"]),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{_join(body)}</body></html>"
    )


QUICK_SPANS = ((1, "24 hours"), (7, "7 days"), (30, "30 days"))


def _picker(window: dict[str, Any]) -> Safe:
    """GET form for any window plus quick spans; relative URLs keep working behind a proxy prefix.

    Without an end the window ends at the store's latest data, so the quick
    spans are the latest days of data (the same as the last days on a live store).
    """
    quick = " · ".join(f'<a href="?days={d}">latest {_e(label)}</a>' for d, label in QUICK_SPANS)
    latest = window.get("latest_data")
    data = f" · data until {_e(_hour_label(latest))} UTC" if latest else ""
    return Safe(
        '<form method="get">'
        f'<label>start <input name="start" value="{_e(window["start"])}"></label> '
        f'<label>end <input name="end" value="{_e(window["end"])}"></label> '
        f'<button type="submit">Show</button> <span class="muted">ISO 8601, UTC · {quick}{data}</span></form>'
    )


def _tiles(tiles: dict[str, Any]) -> Safe:
    """The model's headline numbers (counted there: improvements from the pipeline's one query)."""
    shown = [
        ("events", f"{tiles['events']:,}"),
        ("success rate", _pct(tiles["success_rate"])),
        ("mean quality", _num(tiles["mean_quality"])),
        ("error rate", _pct(tiles["error_rate"])),
        ("anomalous hours", str(tiles["anomalous_hours"])),
        ("experiments running", str(tiles["running"])),
        ("awaiting review", str(tiles["proposed"])),
        ("promoted / rolled back", f"{tiles['promoted']} / {tiles['rolled_back']}"),
    ]
    cells = [
        f'<div class="tile" data-tile="{_e(k)}"><span class="muted">{_e(k)}</span><b>{_e(v)}</b></div>'
        for k, v in shown
    ]
    # Anomalies for the better are good news, not alarms: counted apart, and small.
    good = tiles["good_news_hours"]
    cells.append(
        f'<div class="tile" data-tile="good news"><span class="muted">good news</span>'
        f'<span class="good">{good} {"hour" if good == 1 else "hours"} better than usual</span></div>'
    )
    return Safe(f'<div class="tiles">{_join(cells)}</div>')


# ---- hourly trends

CHART_W, CHART_H = 960, 150
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 22, 22
METRIC_LABELS = {
    "success_rate": ("success rate", _pct),
    "mean_quality": ("mean quality score", _num),
    "error_rate": ("share of executions with errors", _pct),
    "p95_duration_s": ("p95 duration (seconds)", _num),
    "security_rate": ("share of executions with security findings", _pct),
    "satisfaction": ("mean satisfaction", _num),
}


def _metric_label(metric: str) -> tuple[str, Callable[[Any], str]]:
    return METRIC_LABELS.get(metric, (metric, _num))


def _trends(
    series: list[dict[str, Any]],
    charted: list[str],
    anomalies: list[dict[str, Any]],
    good_news: list[dict[str, Any]],
) -> Safe:
    heading = Safe(
        "<h2>Hourly trends <span class='muted'>(dots: anomalous hours platform-wide, red for the worse, "
        "green for the better; ticks on the axis: a segment's)</span></h2>"
    )
    if not any(p["n"] for p in series):
        return Safe(f"{heading}<p class='muted'>No events in this window.</p>")
    index = {p["hour"]: i for i, p in enumerate(series)}
    flagged = [(index[a["hour"]], a) for a in [*anomalies, *good_news] if a["hour"] in index]
    charts = [_volume_chart(series)]
    for metric in charted:
        charts.append(_line_chart(series, metric, [(i, a) for i, a in flagged if a["metric"] == metric]))
    return _join([heading, *charts, _anomaly_tables(anomalies, good_news)])


def _x(i: int, count: int) -> float:
    return PAD_L + (CHART_W - PAD_L - PAD_R) * (i + 0.5) / count


def _scale(values: list[float]) -> tuple[float, float]:
    """A y range around the data with a margin; a flat series gets a visible band."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    margin = (hi - lo) * 0.1 or max(abs(hi) * 0.1, 0.01)
    return lo - margin, hi + margin


def _y(value: float, lo: float, hi: float) -> float:
    return PAD_T + (CHART_H - PAD_T - PAD_B) * (hi - value) / (hi - lo)


def _frame(title: str, series: list[dict[str, Any]], y_labels: list[tuple[float, str]]) -> list[str]:
    """Chart title, y gridlines with labels and a tick at each midnight (dated, thinned on long windows)."""
    parts = [f'<text x="{PAD_L}" y="14" font-weight="600">{_e(title)}</text>']
    for y, label in y_labels:
        parts.append(f'<line class="axis" x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}</text>')
    midnights = [i for i, p in enumerate(series) if p["hour"][11:13] == "00"]
    step = max(1, math.ceil(len(midnights) / 12))
    for k, i in enumerate(midnights):
        x = _x(i, len(series)) - (CHART_W - PAD_L - PAD_R) / len(series) / 2
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{CHART_H - PAD_B}"/>')
        if k % step == 0:
            label = series[i]["hour"][5:10]
            parts.append(f'<text x="{x + 2:.1f}" y="{CHART_H - 6}">{_e(label)}</text>')
    return parts


def _svg(title: str, parts: list[str], height: int = CHART_H) -> Safe:
    return Safe(
        f'<svg viewBox="0 0 {CHART_W} {height}" width="{CHART_W}" height="{height}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>{"".join(parts)}</svg>'
    )


def _line_chart(series: list[dict[str, Any]], metric: str, marks: list[tuple[int, dict[str, Any]]]) -> Safe:
    """One metric's hourly line; ``marks`` are its anomalies (index into ``series``, anomaly).

    A platform-wide anomaly is a dot at its value; a segment's is a tick on
    the time axis (its value is the segment's, not on this line's scale).
    """
    label, fmt = _metric_label(metric)
    platform = [(i, a) for i, a in marks if not a["segment"]]
    values = [p[metric] for p in series if p.get(metric) is not None]
    lo, hi = _scale(values + [a["value"] for _, a in platform if _finite(a["value"])])
    ticks = [lo + (hi - lo) * f for f in (0.1, 0.5, 0.9)]
    parts = _frame(label, series, [(_y(v, lo, hi), fmt(v)) for v in ticks])
    path, pen_down = [], False
    for i, point in enumerate(series):
        value = point.get(metric)
        if value is None:  # an hour without events breaks the line instead of inventing a value
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{_x(i, len(series)):.1f},{_y(value, lo, hi):.1f}")
        pen_down = True
    parts.append(f'<path class="series" d="{" ".join(path)}"/>')
    # An hour with no measured neighbour draws no line: show it as a dot.
    for i, point in enumerate(series):
        alone = all(not (0 <= j < len(series)) or series[j].get(metric) is None for j in (i - 1, i + 1))
        if point.get(metric) is not None and alone:
            x, y = _x(i, len(series)), _y(point[metric], lo, hi)
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
    for i, anomaly in marks:
        color = ADVERSE if anomaly["adverse"] else FAVOURABLE
        where = f" ({describe_segment(anomaly['segment'])})" if anomaly["segment"] else ""
        tip = (
            f"{_hour_label(anomaly['hour'])}: {label}{where} {fmt(anomaly['value'])}, "
            f"usual {fmt(anomaly['expected'])}, score {_num(anomaly['score'])}"
            f"{'' if anomaly['adverse'] else ', better than usual'}"
        )
        x = _x(i, len(series))
        if not anomaly["segment"] and _finite(anomaly["value"]):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{_y(anomaly["value"], lo, hi):.1f}" r="4.5" '
                f'fill="{color}"><title>{_e(tip)}</title></circle>'
            )
        else:
            base = CHART_H - PAD_B
            parts.append(
                f'<path d="M{x:.1f},{base - 7:.1f} l-4,7 h8 z" fill="{color}"><title>{_e(tip)}</title></path>'
            )
    return _svg(label, parts)


def _volume_chart(series: list[dict[str, Any]]) -> Safe:
    top = max(p["n"] for p in series)
    parts = _frame("events per hour", series, [(_y(top, 0, top), f"{top:,}"), (_y(0, 0, top), "0")])
    width = max((CHART_W - PAD_L - PAD_R) / len(series) - 1, 0.5)
    for i, point in enumerate(series):
        if point["n"]:
            y = _y(point["n"], 0, top)
            parts.append(
                f'<rect x="{_x(i, len(series)) - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{CHART_H - PAD_B - y:.1f}" fill="#90caf9"><title>'
                f"{_e(_hour_label(point['hour']))}: {point['n']:,} events</title></rect>"
            )
    return _svg("events per hour", parts)


def _anomaly_tables(anomalies: list[dict[str, Any]], good_news: list[dict[str, Any]]) -> Safe:
    """The adverse anomalies of every segment and metric, and apart from them the good news."""
    parts = [
        _details(f"{len(anomalies)} anomalies for the worse (all segments)", _anomaly_table(anomalies))
        if anomalies
        else Safe("<p class='muted'>No anomalies for the worse flagged in this window.</p>")
    ]
    if good_news:
        summary = f"good news: {len(good_news)} anomalies for the better (all segments)"
        parts.append(_details(summary, _anomaly_table(good_news)))
    return _join(parts)


def _anomaly_table(anomalies: list[dict[str, Any]]) -> Safe:
    rows = [
        [
            _hour_label(a["hour"]),
            a["metric"],
            describe_segment(a["segment"]),
            _num(a["value"]),
            _num(a["expected"]),
            _num(a["score"]),
        ]
        for a in anomalies
    ]
    headers = ["hour (UTC)", "metric", "where", "value", "usual", "score"]
    return _table(headers, rows, numeric_from=3)


# ---- tables


def _table(headers: list[str], rows: list[list[Any]], numeric_from: int | None = None) -> Safe:
    """A table whose every cell is escaped unless it is ``Safe`` markup built here."""
    head = _join(f"<th>{_e(h)}</th>" for h in headers)

    def cell(k: int, value: Any) -> str:
        numeric = numeric_from is not None and k >= numeric_from
        return f"<td{' class=num' if numeric else ''}>{_e(value)}</td>"

    body = _join(f"<tr>{_join(cell(k, v) for k, v in enumerate(row))}</tr>" for row in rows)
    return Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _details(summary: str, content: str) -> Safe:
    return Safe(f"<details><summary>{_e(summary)}</summary>{content}</details>")


def _badge(label: str, color: str) -> Safe:
    return Safe(f'<span class="badge" style="background:{_e(color)}">{_e(label)}</span>')


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
            _pct(p["rate"]),
            f"{_num(p['lift'])}x" if _finite(p["lift"]) else NONE,
            _p(p["p_value"]),
            f"{p['runs']} {p['level']}",
        ]
        for p in patterns
    ]
    headers = ["signal", "kind", "where", "events", "rate", "lift", "p", "runs"]
    note = (
        "<p class='muted'>rate: share of the segment's executions with the signal (frequency), "
        "of sessions (sequence), the rule's confidence, or |r| (correlation).</p>"
    )
    return _join([heading, _table(headers, rows, numeric_from=3), Safe(note)])


def _insights_section(insights: list[dict[str, Any]]) -> Safe:
    heading = Safe("<h2>Insights <span class='muted'>(most severe first)</span></h2>")
    if not insights:
        return Safe(f"{heading}<p class='muted'>No insights in this window.</p>")
    rows = [
        [
            _badge(i["severity"], SEVERITY_COLORS.get(i["severity"], OTHER)),
            i["title"],
            f"{i['category']}/{i['subtype']}",
            f"{i['confidence']:.3f}",
            f"{i['seen']} {i['level']}",
        ]
        for i in insights
    ]
    return Safe(heading + _table(["severity", "finding", "taxonomy", "confidence", "seen"], rows, 3))


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
            Safe(f"<pre>{_e(i['modification'])}</pre>"),
            i["status_reason"],
            _hour_label(i["updated_at"]),
        ]
        for i in pipeline["items"]
    ]
    table = _table(["status", "improvement id", "change", "modification", "why", "updated (UTC)"], rows)
    latest = f"{len(pipeline['items'])} most recently updated"
    return _join([heading, _pipeline_strip(counts), _loop_line(effectiveness), _details(latest, table)])


def _review_section(pipeline: dict[str, Any]) -> Safe:
    """Each proposed improvement with the commands that review it (click a command to select it)."""
    review = pipeline["review"]
    if not review:
        return Safe("")
    heading = Safe(
        f"<h2>Awaiting review <span class='muted'>({pipeline['review_total']} proposed: approve by "
        f"triggering the DAG {_e(REVIEW_DAG)}, or with the AITL CLI; "
        "write &quot;reject&quot; for &quot;approve&quot; to reject, and say why in the note)</span></h2>"
    )
    headers = ["improvement id", "change", "modification", "why proposed"]
    head = _join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i in review:
        cells = [
            i["id"],
            f"{i['type']} → {i['target_id']} (priority {i['priority']}, confidence {_num(i['confidence'])})",
            Safe(f"<pre>{_e(i['modification'])}</pre>"),
            i["status_reason"],
        ]
        body.append(f"<tr>{_join(f'<td>{_e(c)}</td>' for c in cells)}</tr>")
        # The commands get the table's whole width, under the proposal they review.
        commands = _join(f'<pre class="cmd">{_e(i["commands"][k])}</pre>' for k in ("airflow", "cli"))
        body.append(f'<tr class="cmds"><td colspan="{len(headers)}">{commands}</td></tr>')
    table = Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{_join(body)}</tbody></table>")
    more = pipeline["review_total"] - len(review)
    note = Safe(f"<p class='muted'>and {more} more, not shown.</p>") if more > 0 else Safe("")
    return _join([heading, table, note])


def _pipeline_strip(counts: dict[str, int]) -> Safe:
    """One bar split by status, left to right as improvements move through the loop."""
    total = sum(counts.values())
    width, x, parts = CHART_W - 2, 1.0, []
    for status, n in counts.items():
        w = width * n / total
        color = COLORS.get(status, OTHER)
        parts.append(
            f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="26" fill="{_e(color)}">'
            f"<title>{_e(status)}: {n}</title></rect>"
        )
        if w > 60:
            parts.append(f'<text x="{x + 6:.1f}" y="21" style="fill:#fff">{_e(status)} {n}</text>')
        x += w
    legend = " · ".join(f"{_badge(s, COLORS.get(s, OTHER))} {n}" for s, n in counts.items())
    return Safe(_svg("improvements by status", parts, height=34) + f"<p>{legend}</p>")


def _loop_line(effectiveness: dict[str, Any] | None) -> Safe:
    if effectiveness is None:
        return Safe("")
    metrics = effectiveness["metrics"]
    totals = metrics.get("totals") or {}
    roi = metrics.get("roi") or {}
    text = (
        f"Loop as of the {effectiveness['level']} run ending {_hour_label(effectiveness['window_end'])}: "
        f"{totals.get('promoted', 0)} promoted, {totals.get('rolled_back', 0)} rolled back, "
        f"{totals.get('inconclusive', 0)} inconclusive since the start"
    )
    # Both are undefined until an experiment has ended: leave them out rather than print a dash.
    if _finite(metrics.get("improvement_success_rate")):
        text += f"; improvement success rate {_pct(metrics['improvement_success_rate'])}"
    if _finite(roi.get("extra_successes_per_day")):
        text += f"; extra successes per day {_num(roi['extra_successes_per_day'])}"
    text += "."
    return Safe(f"<p class='muted'>{_e(text)}</p>")


FOREST_ROW, FOREST_LABEL, FOREST_NOTE = 34, 240, 330


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
            Safe(f"<pre>{_e(e['variant_adds'] or e['modification'])}</pre>"),
            _look_text(e["look"]),
        ]
        for e in experiments
    ]
    headers = ["experiment id", "improvement id", "prompt", "what the variant adds", "latest look"]
    table = _table(headers, rows)
    return _join([heading, _forest(experiments), _details("changes and reasons", table)])


def _look_text(look: dict[str, Any] | None) -> str:
    if look is None:
        return "no look yet"
    when = _hour_label(look["at"])
    if look["source"] == "decision":
        return f"daily look {look['look']} ({when}): {look['reason']}"
    return f"latest test ({when}), no decision yet: {look['reason']}"


def _forest(experiments: list[dict[str, Any]]) -> Safe:
    """Effect and interval per experiment on one shared axis centred on no effect."""
    bounds = [
        abs(v)
        for e in experiments
        for v in ((e["look"] or {}).get(k) for k in ("effect", "ci_low", "ci_high"))
        if _finite(v)
    ]
    span = max(bounds, default=0.0) * 1.1 or 0.1
    left, right = FOREST_LABEL, CHART_W - FOREST_NOTE
    height = PAD_T + FOREST_ROW * len(experiments) + PAD_B

    def x(value: float) -> float:
        return left + (right - left) * (value + span) / (2 * span)

    parts = [
        f'<line class="axis" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{PAD_T - 6}" y2="{height - PAD_B}"/>',
        f'<text x="{x(-span):.1f}" y="{height - 6}">{_e(_signed(-span))}</text>',
        f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle">0 (no effect)</text>',
        f'<text x="{x(span):.1f}" y="{height - 6}" text-anchor="end">{_e(_signed(span))}</text>',
    ]
    for row, experiment in enumerate(experiments):
        parts.extend(_forest_row(experiment, PAD_T + FOREST_ROW * row + FOREST_ROW / 2, x))
    return _svg("experiments: effect with interval", parts, height=height)


def _forest_row(experiment: dict[str, Any], y: float, x: Callable[[float], float]) -> list[str]:
    look = experiment["look"] or {}
    verdict = look.get("decision") or (
        "running" if experiment["status"] == "running" else experiment["status"]
    )
    color = COLORS.get(verdict, OTHER)
    label = f"{experiment['prompt_id']} v{experiment['control_version']} → v{experiment['variant_version']}"
    parts = [f'<text x="4" y="{y + 4:.1f}">{_e(label)}<title>{_e(experiment["id"])}</title></text>']
    if not _finite(look.get("effect")):
        parts.append(f'<text x="{x(0) + 8:.1f}" y="{y + 4:.1f}" class="muted">no estimate yet</text>')
        return parts
    low, high = look.get("ci_low"), look.get("ci_high")
    if _finite(low) and _finite(high):
        parts.append(
            f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        for end in (low, high):
            parts.append(
                f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
    adjusted = f", adjusted {_p(look['p_adjusted'])}" if _finite(look.get("p_adjusted")) else ""
    what = f"{verdict} · {look.get('metric')}"
    numbers = (
        f"{_signed(look['effect'])} [{_signed(low)}, {_signed(high)}] {_p(look.get('p_value'))}{adjusted}"
    )
    parts.append(
        f'<circle cx="{x(look["effect"]):.1f}" cy="{y:.1f}" r="5" fill="{color}">'
        f"<title>{_e(experiment['id'])}: {_e(what)} {_e(numbers)}</title></circle>"
    )
    note_x = CHART_W - FOREST_NOTE + 8
    parts.append(f'<text x="{note_x}" y="{y - 2:.1f}" font-weight="600">{_e(what)}</text>')
    parts.append(f'<text x="{note_x}" y="{y + 11:.1f}">{_e(numbers)}</text>')
    return parts
