"""``nd.runs_frame`` and ``nd.steps_frame``: the journal's runs and steps as pandas DataFrames.

pandas (and pyarrow, for Arrow-backed columns) come with ``nbdurable[analysis]`` and are
imported only here, on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._rows import RUN_COLUMNS, STEP_COLUMNS, run_rows, step_rows

if TYPE_CHECKING:
    import pandas as pd

    from ..engine._engine import Engine
    from ..engine._handle import RunHandle

__all__ = ["runs_frame", "steps_frame"]

_TIMES = ("started_at", "ended_at")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ConfigError(
            "runs as DataFrames need pandas: pip install 'nbdurable[analysis]' (pandas and pyarrow)"
        ) from None
    return pandas


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a DataFrame: times as UTC timestamps, durations as timedeltas, Arrow-backed where pyarrow is."""
    pandas = _pandas()
    frame = pandas.DataFrame.from_records(rows, columns=list(columns))
    for column in _TIMES:
        frame[column] = pandas.to_datetime(frame[column], unit="s", utc=True)
    frame["duration"] = pandas.to_timedelta(frame["duration"], unit="s")
    try:
        import pyarrow  # noqa: F401 - only asks whether Arrow-backed columns are possible
    except ImportError:
        return frame.convert_dtypes()
    return frame.convert_dtypes(dtype_backend="pyarrow")


def _engine(engine: Engine | None) -> Engine:
    if engine is not None:
        return engine
    from ..engine._engine import get_engine

    return get_engine()


def _handles(engine: Engine, status: str | None, function_id: str | None, limit: int | None) -> list[RunHandle[Any]]:
    return engine.runs(status=status, function_id=function_id, limit=limit)


def runs_frame(
    *,
    status: str | None = None,
    function_id: str | None = None,
    limit: int | None = 100,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """The journal's runs, newest first, one row each; filters as ``nd.runs()``.

    Columns: run_id, function_id, status, kind, trigger (event name), notebook, cell, started_at,
    ended_at, duration, attempts, steps, steps_done, steps_failed, step_retries, replayed (steps
    answered from the journal in this process), ai_steps, models, tokens_in, tokens_out, cost (USD;
    missing when an AI step's price is unknown or there is none), error_type, error_message,
    parent_run_id, rerun_of.
    """
    eng = _engine(engine)
    return _frame(run_rows(eng, _handles(eng, status, function_id, limit)), RUN_COLUMNS)


def steps_frame(
    run_id: str | None = None,
    *,
    status: str | None = None,
    function_id: str | None = None,
    limit: int | None = 100,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """The steps of one run (``run_id``), or of the runs ``nd.runs()`` would list with these filters.

    One row per step in the order first reached (journaled values such as ``step.now()`` left
    out). Columns: run_id, function_id, step_id, name, kind, status, position, attempts,
    started_at, ended_at, duration, replayed, model, provider, tokens_in, tokens_out,
    cache_read_tokens, reasoning_tokens, cost, price_source, price_as_of, error_type,
    error_message, input (preview), output (first 500 characters), output_size, notebook.
    """
    eng = _engine(engine)
    handles = [eng.handle(run_id)] if run_id is not None else _handles(eng, status, function_id, limit)
    rows = [row for handle in handles for row in step_rows(eng, handle)]
    return _frame(rows, STEP_COLUMNS)
