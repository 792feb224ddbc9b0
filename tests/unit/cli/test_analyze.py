"""`aitl analyze`: every daily analytic on a file, and one clear line for a bad file."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from aitl.cli.main import main
from aitl.mining.correlations import linked
from aitl.sim import series as gen
from aitl.sim.simulate import simulate
from aitl.window import Window


def write_series(path, values, start=datetime(2026, 11, 1, tzinfo=UTC), step=timedelta(minutes=15)):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["when", "metric"])
        for i, value in enumerate(values):
            writer.writerow([(start + i * step).isoformat(), value])


def test_anomalies_on_a_quarter_hourly_series(tmp_path):
    rng = np.random.default_rng(1)
    n = 96 * 6
    values = 10 + np.sin(np.arange(n) * 2 * np.pi / 96) + rng.normal(0, 0.1, n)
    values[400] += 3
    write_series(tmp_path / "s.csv", values)
    out = tmp_path / "out.csv"
    argv = [
        "analyze",
        "anomalies",
        "--input",
        str(tmp_path / "s.csv"),
        "--time-col",
        "when",
        "--value-col",
        "metric",
        "--sensitivity",
        "0.999",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "score", "is_anomaly", "episode"]
    assert len(rows) == n
    flagged = [i for i, r in enumerate(rows) if r["is_anomaly"] == "True"]
    assert 400 in flagged and len(flagged) <= 3
    assert rows[400]["episode"] == "1" and rows[0]["episode"] == ""


def test_anomalies_of_a_messy_export(tmp_path, capsys):
    # A day-night traffic series as a monitoring export leaves it: lost samples,
    # an outage, duplicates, jitter, rows out of order, unreadable cells. One row
    # comes back per distinct input timestamp, in time order, and stderr says
    # in one line what was done.
    rng = np.random.default_rng(5)
    labelled = gen.metric_series(rng, days=14, interval="5min", daily=0.5, noise=0.04)
    gen.plant_spikes(rng, labelled, count=2, sigmas=(20, 25))
    rows = gen.messy(rng, labelled.series, duplicated=0.02, swapped=0.01)
    rows.to_csv(tmp_path / "export.csv", index=False)
    assert main(["analyze", "anomalies", "--input", str(tmp_path / "export.csv")]) == 0
    captured = capsys.readouterr()
    note = captured.err.strip()
    assert len(note.splitlines()) == 1
    for said in ("rows out of order", "duplicate timestamps averaged", "interval 5min", "gaps filled"):
        assert said in note
    written = pd.read_csv(io.StringIO(captured.out))
    stamps = pd.to_datetime(written["timestamp"])
    distinct = pd.to_datetime(rows["timestamp"], utc=True).drop_duplicates().sort_values()
    assert stamps.tolist() == distinct.tolist()
    flagged = written[written["is_anomaly"]]
    assert written["episode"].notna().tolist() == written["is_anomaly"].tolist()
    assert flagged["episode"].is_monotonic_increasing and flagged["episode"].iloc[0] == 1
    spikes = pd.DatetimeIndex([start for start, _ in labelled.anomalies])
    near = [abs(stamps[written["is_anomaly"]] - spike).min() <= pd.Timedelta(minutes=3) for spike in spikes]
    assert all(near)


def test_a_series_with_fewer_than_ten_values_is_refused(tmp_path, capsys):
    text = "timestamp,value\n" + "".join(f"2026-11-01T0{h}:00Z,{'x' if h > 7 else h}\n" for h in range(10))
    (tmp_path / "short.csv").write_text(text)
    assert main(["analyze", "anomalies", "--input", str(tmp_path / "short.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nothing usable: 8 valid values, at least 10 needed" in err
    assert "2 unreadable values taken as missing" in err


def test_trend_of_a_daily_series(tmp_path, capsys):
    rng = np.random.default_rng(2)
    write_series(tmp_path / "d.csv", 100 - 2 * np.arange(20) + rng.normal(0, 1, 20), step=timedelta(days=1))
    assert (
        main(
            [
                "analyze",
                "trend",
                "--input",
                str(tmp_path / "d.csv"),
                "--time-col",
                "when",
                "--value-col",
                "metric",
                "--lower-is-better",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"direction", "slope_per_day", "p_value", "method"}
    assert result["direction"] == "improving"  # falling, and lower is better
    assert result["slope_per_day"] == pytest.approx(-2, abs=0.3)


def test_sequences_of_sessions(tmp_path, capsys):
    sessions = ["generate syntax_error retry ok"] * 6 + ["generate ok"] * 3 + ["generate timeout"]
    (tmp_path / "s.txt").write_text("\n".join(sessions) + "\n")
    out = tmp_path / "seq.json"
    assert (
        main(
            [
                "analyze",
                "sequences",
                "--input",
                str(tmp_path / "s.txt"),
                "--min-support",
                "0.5",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    supports = {tuple(p["sequence"]): p["support"] for p in result["patterns"]}
    assert supports[("generate", "syntax_error", "retry", "ok")] == pytest.approx(0.6)
    assert supports[("generate", "ok")] == pytest.approx(0.9)
    rule = next(
        r
        for r in result["rules"]
        if r["antecedent"] == ["generate", "syntax_error"] and r["consequent"] == ["retry", "ok"]
    )
    assert rule["confidence"] == pytest.approx(1.0)
    assert rule["lift"] == pytest.approx(1 / 0.6)


def test_patterns_of_events(tmp_path, capsys):
    simulate(tmp_path, Window.parse("2026-11-18T10:00", "2026-11-18T11:00"), rate=1500, seed=4)
    events = next(tmp_path.rglob("*.jsonl"))
    assert main(["analyze", "patterns", "--input", str(events)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["events"] > 1000
    assert any(
        p["signal"] == "sql injection" and p["segment"].get("task_type") == "api_endpoint"
        for p in result["frequency"]
    )
    # cost is priced per token: that pair is linked by definition, so it is not even tested
    assert result["tests"] > 100
    assert all(not linked(c["left"], c["right"]) for c in result["correlation"])


@pytest.mark.parametrize(
    ("kind", "content", "named"),
    [
        ("anomalies", "when,other\n2026-11-01T00:00Z,1\n", ["line 1", "metric"]),
        ("trend", "when,other\n2026-11-01T00:00Z,1\n", ["metric"]),
        ("sequences", b"generate ok\n\xff\xfe\n", ["bad.input:2:"]),
        ("patterns", '{"event_id": "x"}\n', ["line 1", "execution_id"]),
    ],
)
def test_a_bad_file_gets_one_line_naming_file_row_and_column(tmp_path, capsys, kind, content, named):
    path = tmp_path / "bad.input"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    argv = ["analyze", kind, "--input", str(path)]
    if kind in ("anomalies", "trend"):
        argv += ["--time-col", "when", "--value-col", "metric"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err
    for word in named:
        assert word in err
