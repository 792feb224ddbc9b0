"""The AITL page's charts as inline SVG: hourly lines with their anomaly episodes, volume, the forest plot.

No script or library draws them: the page must work inside an air-gapped Airflow UI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aitl.loop.insights import describe_segment
from aitl.ui.markup import (
    ADVERSE,
    COLORS,
    FAVOURABLE,
    OTHER,
    Safe,
    esc,
    finite,
    hour_label,
    num,
    p_text,
    pct,
    signed,
)

CHART_W, CHART_H = 960, 150
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 22, 22
METRIC_LABELS = {
    "success_rate": ("success rate", pct),
    "mean_quality": ("mean quality score", num),
    "error_rate": ("share of executions with errors", pct),
    "p95_duration_s": ("p95 duration (seconds)", num),
    "mean_log_duration": ("mean log duration (log seconds)", num),
    "security_rate": ("share of executions with security findings", pct),
    "satisfaction": ("mean satisfaction", num),
}


def metric_label(metric: str) -> tuple[str, Callable[[Any], str]]:
    return METRIC_LABELS.get(metric, (metric, num))


def x_of(i: int, count: int) -> float:
    return PAD_L + (CHART_W - PAD_L - PAD_R) * (i + 0.5) / count


def scale(values: list[float]) -> tuple[float, float]:
    """A y range around the data with a margin; a flat series gets a visible band."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    margin = (hi - lo) * 0.1 or max(abs(hi) * 0.1, 0.01)
    return lo - margin, hi + margin


def y_of(value: float, lo: float, hi: float) -> float:
    return PAD_T + (CHART_H - PAD_T - PAD_B) * (hi - value) / (hi - lo)


def frame(title: str, series: list[dict[str, Any]], y_labels: list[tuple[float, str]]) -> list[str]:
    """Chart title, y gridlines with labels and a tick at each midnight (dated, thinned on long windows)."""
    parts = [f'<text x="{PAD_L}" y="14" font-weight="600">{esc(title)}</text>']
    for y, label in y_labels:
        parts.append(f'<line class="axis" x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{esc(label)}</text>')
    midnights = [i for i, p in enumerate(series) if p["hour"][11:13] == "00"]
    step = max(1, math.ceil(len(midnights) / 12))
    for k, i in enumerate(midnights):
        x = x_of(i, len(series)) - (CHART_W - PAD_L - PAD_R) / len(series) / 2
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{CHART_H - PAD_B}"/>')
        if k % step == 0:
            label = series[i]["hour"][5:10]
            parts.append(f'<text x="{x + 2:.1f}" y="{CHART_H - 6}">{esc(label)}</text>')
    return parts


def svg(title: str, parts: list[str], height: int = CHART_H) -> Safe:
    return Safe(
        f'<svg viewBox="0 0 {CHART_W} {height}" width="{CHART_W}" height="{height}" role="img" '
        f'aria-label="{esc(title)}"><title>{esc(title)}</title>{"".join(parts)}</svg>'
    )


def episode_span(anomaly: dict[str, Any]) -> str:
    """'2026-11-18 14:00' for a one-hour episode, '2026-11-18 13:00 to 15:00' for a longer one."""
    start, end = hour_label(anomaly["start"]), hour_label(anomaly["end"])
    if start == end:
        return start
    return f"{start} to {end[11:] if start[:10] == end[:10] else end}"


def line_chart(series: list[dict[str, Any]], metric: str, marks: list[tuple[int, dict[str, Any]]]) -> Safe:
    """One metric's hourly line; ``marks`` are its anomaly episodes (index of the peak, episode).

    A platform-wide episode is a band over its hours with a dot at its peak's
    value; a segment's is a tick on the time axis at its peak (its value is the
    segment's, not on this line's scale).
    """
    label, fmt = metric_label(metric)
    platform = [(i, a) for i, a in marks if not a["segment"]]
    values = [p[metric] for p in series if p.get(metric) is not None]
    lo, hi = scale(values + [a["value"] for _, a in platform if finite(a["value"])])
    ticks = [lo + (hi - lo) * f for f in (0.1, 0.5, 0.9)]
    parts = frame(label, series, [(y_of(v, lo, hi), fmt(v)) for v in ticks])
    index = {p["hour"]: i for i, p in enumerate(series)}
    step = x_of(1, len(series)) - x_of(0, len(series))
    for _, episode in platform:
        first = index.get(episode["start"], 0)
        last = index.get(episode["end"], len(series) - 1)
        color = ADVERSE if episode["adverse"] else FAVOURABLE
        left, right = x_of(first, len(series)) - step / 2, x_of(last, len(series)) + step / 2
        parts.append(
            f'<rect x="{left:.1f}" y="{PAD_T}" width="{right - left:.1f}" height="{CHART_H - PAD_T - PAD_B}" '
            f'fill="{color}" fill-opacity="0.12"/>'
        )
    path, pen_down = [], False
    for i, point in enumerate(series):
        value = point.get(metric)
        if value is None:  # an hour without events breaks the line instead of inventing a value
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{x_of(i, len(series)):.1f},{y_of(value, lo, hi):.1f}")
        pen_down = True
    parts.append(f'<path class="series" d="{" ".join(path)}"/>')
    # An hour with no measured neighbour draws no line: show it as a dot.
    for i, point in enumerate(series):
        alone = all(not (0 <= j < len(series)) or series[j].get(metric) is None for j in (i - 1, i + 1))
        if point.get(metric) is not None and alone:
            x, y = x_of(i, len(series)), y_of(point[metric], lo, hi)
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
    for i, anomaly in marks:
        color = ADVERSE if anomaly["adverse"] else FAVOURABLE
        where = f" ({describe_segment(anomaly['segment'])})" if anomaly["segment"] else ""
        tip = (
            f"{episode_span(anomaly)}: {label}{where}, peak {hour_label(anomaly['hour'])[11:]} "
            f"{fmt(anomaly['value'])}, usual {fmt(anomaly['expected'])}, score {num(anomaly['score'])}"
            f"{'' if anomaly['adverse'] else ', better than usual'}"
        )
        x = x_of(i, len(series))
        if not anomaly["segment"] and finite(anomaly["value"]):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y_of(anomaly["value"], lo, hi):.1f}" r="4.5" '
                f'fill="{color}"><title>{esc(tip)}</title></circle>'
            )
        else:
            base = CHART_H - PAD_B
            marker = f'<path d="M{x:.1f},{base - 7:.1f} l-4,7 h8 z" fill="{color}">'
            parts.append(f"{marker}<title>{esc(tip)}</title></path>")
    return svg(label, parts)


def volume_chart(series: list[dict[str, Any]]) -> Safe:
    top = max(p["n"] for p in series)
    parts = frame("events per hour", series, [(y_of(top, 0, top), f"{top:,}"), (y_of(0, 0, top), "0")])
    width = max((CHART_W - PAD_L - PAD_R) / len(series) - 1, 0.5)
    for i, point in enumerate(series):
        if point["n"]:
            y = y_of(point["n"], 0, top)
            parts.append(
                f'<rect x="{x_of(i, len(series)) - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{CHART_H - PAD_B - y:.1f}" fill="#90caf9"><title>'
                f"{esc(hour_label(point['hour']))}: {point['n']:,} events</title></rect>"
            )
    return svg("events per hour", parts)


FOREST_ROW, FOREST_LABEL, FOREST_NOTE = 34, 240, 330


def forest(experiments: list[dict[str, Any]]) -> Safe:
    """Effect and interval per experiment on one shared axis centred on no effect."""
    bounds = [
        abs(v)
        for e in experiments
        for v in ((e["look"] or {}).get(k) for k in ("effect", "ci_low", "ci_high"))
        if finite(v)
    ]
    span = max(bounds, default=0.0) * 1.1 or 0.1
    left, right = FOREST_LABEL, CHART_W - FOREST_NOTE
    height = PAD_T + FOREST_ROW * len(experiments) + PAD_B

    def x(value: float) -> float:
        return left + (right - left) * (value + span) / (2 * span)

    parts = [
        f'<line class="axis" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{PAD_T - 6}" y2="{height - PAD_B}"/>',
        f'<text x="{x(-span):.1f}" y="{height - 6}">{esc(signed(-span))}</text>',
        f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle">0 (no effect)</text>',
        f'<text x="{x(span):.1f}" y="{height - 6}" text-anchor="end">{esc(signed(span))}</text>',
    ]
    for row, experiment in enumerate(experiments):
        parts.extend(forest_row(experiment, PAD_T + FOREST_ROW * row + FOREST_ROW / 2, x))
    return svg("experiments: effect with interval", parts, height=height)


def forest_row(experiment: dict[str, Any], y: float, x: Callable[[float], float]) -> list[str]:
    look = experiment["look"] or {}
    verdict = look.get("decision") or (
        "running" if experiment["status"] == "running" else experiment["status"]
    )
    color = COLORS.get(verdict, OTHER)
    label = f"{experiment['prompt_id']} v{experiment['control_version']} → v{experiment['variant_version']}"
    parts = [f'<text x="4" y="{y + 4:.1f}">{esc(label)}<title>{esc(experiment["id"])}</title></text>']
    if not finite(look.get("effect")):
        parts.append(f'<text x="{x(0) + 8:.1f}" y="{y + 4:.1f}" class="muted">no estimate yet</text>')
        return parts
    low, high = look.get("ci_low"), look.get("ci_high")
    if finite(low) and finite(high):
        parts.append(
            f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        for end in (low, high):
            parts.append(
                f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
    adjusted = f", adjusted {p_text(look['p_adjusted'])}" if finite(look.get("p_adjusted")) else ""
    what = f"{verdict} · {look.get('metric')}"
    numbers = (
        f"{signed(look['effect'])} [{signed(low)}, {signed(high)}] {p_text(look.get('p_value'))}{adjusted}"
    )
    parts.append(
        f'<circle cx="{x(look["effect"]):.1f}" cy="{y:.1f}" r="5" fill="{color}">'
        f"<title>{esc(experiment['id'])}: {esc(what)} {esc(numbers)}</title></circle>"
    )
    note_x = CHART_W - FOREST_NOTE + 8
    parts.append(f'<text x="{note_x}" y="{y - 2:.1f}" font-weight="600">{esc(what)}</text>')
    parts.append(f'<text x="{note_x}" y="{y + 11:.1f}">{esc(numbers)}</text>')
    return parts
