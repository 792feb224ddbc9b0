"""Reading stored events of a window as a DataFrame (point-in-time by construction)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.store.models import Event
from aitl.window import Window


def events_frame(session: Session, window: Window, columns: Sequence[str]) -> pd.DataFrame:
    """The window's events with the given columns, ``ts`` always included.

    Only events whose timestamp lies in the window are read, so a backfilled
    run sees what a live run of that window saw.
    """
    wanted = list(dict.fromkeys(["ts", *columns]))
    query = select(*(Event.__table__.c[name] for name in wanted)).where(
        Event.ts >= window.start, Event.ts < window.end
    )
    rows = session.execute(query).all()
    return pd.DataFrame.from_records(rows, columns=wanted)
