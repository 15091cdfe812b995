"""Long step outputs are stored compressed on SQLite, read back exactly, and a bomb is refused.

A journal is untrusted: a BLOB in a step's output column that expands past what
nbdurable ever writes must mark the step damaged (never replayed), without being
inflated whole.
"""

from __future__ import annotations

import sqlite3
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbdurable as nd
import nbdurable.journal._sqlite_schema as schema
from nbdurable.engine import registry
from nbdurable.journal._protocol import Write
from nbdurable.journal._rows import UNREADABLE
from nbdurable.journal._sqlite_schema import COMPRESS_FROM, pack_output, unpack_output
from tests.helpers import reset_engine


@pytest.fixture(autouse=True)
def isolated_engine() -> Iterator[None]:
    reset_engine()
    saved = dict(registry())
    yield
    registry().clear()
    registry().update(saved)
    reset_engine()


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    nd.SQLiteJournal(path).close()
    return path


def _write(path: Path, run_id: str, outputs: list[str | None]) -> None:
    j = nd.SQLiteJournal(path)
    try:
        j.write([Write("run", run=nd.RunRecord(run_id, "fn"))])
        j.write(
            [
                Write("step", step=nd.StepRecord(run_id=run_id, step_id=f"s{i}", name=f"s{i}", position=i, output=out))
                for i, out in enumerate(outputs)
            ]
        )
    finally:
        j.close()


def _stored(path: Path, run_id: str) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT typeof(output), length(CAST(output AS BLOB)) FROM steps "
            "WHERE rn=(SELECT rn FROM runs WHERE run_id=?) ORDER BY position",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()


# Long outputs drawn from a small alphabet compress; drawn from everything (surrogates included), often not.
_outputs = st.one_of(
    st.none(),
    st.text(max_size=50),
    st.text(alphabet="ab cdé\n{}\"'😀", min_size=COMPRESS_FROM, max_size=5 * COMPRESS_FROM),
    st.text(min_size=COMPRESS_FROM - 1, max_size=3 * COMPRESS_FROM),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=40), st.integers(30, 300)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outputs=st.lists(_outputs, min_size=1, max_size=6))
def test_outputs_round_trip_through_the_file(journal_file: Path, outputs: list[str | None]) -> None:
    """Whatever a step returns comes back from a new connection exactly, compressed or not."""
    run_id = f"r{uuid.uuid4().hex}"
    _write(journal_file, run_id, outputs)
    j = nd.SQLiteJournal(journal_file)
    try:
        loaded = j.load_steps(run_id)
    finally:
        j.close()
    assert [s.output for s in loaded] == outputs
    assert not any(s.damaged for s in loaded)
    for out, (kind, size) in zip(outputs, _stored(journal_file, run_id), strict=True):
        if kind == "blob":  # only a long value that shrank by a tenth is stored compressed
            assert out is not None and len(out) >= COMPRESS_FROM
            assert size < 0.9 * len(out.encode("utf-8", "surrogatepass")) + 1
        elif out is not None and len(out) >= COMPRESS_FROM:  # long, yet kept as text: zlib did not save a tenth
            raw = out.encode("utf-8", "surrogatepass")
            assert len(zlib.compress(raw, 6)) + 1 > 0.9 * len(raw)


@given(text=st.text())
def test_pack_then_unpack_is_the_identity(text: str) -> None:
    assert unpack_output(pack_output(text)) == text


def test_a_long_reply_is_stored_in_half_the_bytes(journal_file: Path) -> None:
    reply = " ".join(f"word{i % 97} of a model's answer" for i in range(400))
    _write(journal_file, "r1", [reply, "short"])
    (kind, size), (short_kind, _) = _stored(journal_file, "r1")
    assert (kind, short_kind) == ("blob", "text")
    assert size < len(reply) / 2


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x02" + zlib.compress(b'"x"'),  # a codec this release does not know
        b"\x01not zlib at all",
        b"\x01" + zlib.compress(b'"cut short"' * 100)[:-5],
        b"\x01" + zlib.compress(b'"x"') + b"trailing",
        b"\x01" + zlib.compress(b"\xff\xfe not utf-8"),
    ],
    ids=["empty", "unknown-codec", "not-zlib", "truncated", "trailing-bytes", "not-utf8"],
)
def test_a_blob_nbdurable_never_wrote_is_unreadable(blob: bytes) -> None:
    assert unpack_output(blob) is UNREADABLE


def test_unpacking_stops_at_the_limit() -> None:
    bomb = b"\x01" + zlib.compress(b"0" * (4 << 20), 9)
    assert len(bomb) < 8192
    assert unpack_output(bomb, limit=1 << 20) is UNREADABLE
    assert unpack_output(bomb, limit=4 << 20) == "0" * (4 << 20)


@pytest.mark.asyncio
async def test_a_decompression_bomb_in_a_journal_fails_the_resume_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's output replaced by a BLOB expanding past the limit: the step reads as damaged, memory stays flat."""
    path = tmp_path / "journal.db"
    nd.configure(path)
    calls: list[str] = []

    def fetch() -> str:
        calls.append("fetch")
        return "a document " * 200

    def use(text: str) -> int:
        calls.append("use")
        if calls.count("use") == 1:
            raise nd.NonRetriableError("the first attempt fails, so the run is resumed")
        return len(text)

    @nd.function(id="bomb-fn", retries=0)
    async def wf(ctx: nd.Context) -> int:
        text = await ctx.step.run("fetch", fetch)
        return await ctx.step.run("use", use, text)

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="r-bomb")
    reset_engine()
    limit = 1 << 20
    monkeypatch.setattr(schema, "MAX_OUTPUT_BYTES", limit)
    bomb = b"\x01" + zlib.compress(b"0" * (16 * limit), 9)  # 16 MiB from ~16 KB
    conn = sqlite3.connect(path)
    with conn:
        assert conn.execute("UPDATE steps SET output=? WHERE step_id='fetch'", (bomb,)).rowcount == 1
    conn.close()

    j = nd.SQLiteJournal(path)
    try:
        tracemalloc.start()
        step = next(s for s in j.load_steps("r-bomb") if s.step_id == "fetch")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        j.close()
    assert step.damaged == ("output",) and step.status == "failed" and step.output is None
    assert peak < 4 * limit  # bounded by the limit, not by what the BLOB claims (16 MiB)

    nd.configure(path)
    with pytest.raises(nd.JournalRecordError, match=r"r-bomb.*step 'fetch' \(column output\)"):
        await nd.get_run("r-bomb").resume().result(timeout=30)
    assert calls == ["fetch", "use"]  # the damaged step was neither replayed nor run again


@pytest.mark.asyncio
async def test_a_long_output_replays_from_its_compressed_row(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    nd.configure(path)
    calls: list[int] = []

    def page(n: int) -> str:
        calls.append(n)
        return f"page {n}: " + "lorem ipsum dolor sit amet " * 100

    @nd.function(id="long-output-fn", retries=0)
    async def wf(ctx: nd.Context) -> list[str]:
        return [await ctx.step.run(f"p{n}", page, n) for n in range(3)]

    first = await wf.run(run_id="r-long")
    assert {kind for kind, _ in _stored(path, "r-long")} == {"blob"}
    reset_engine()
    nd.configure(path)
    registry()["long-output-fn"] = wf
    handle = nd.get_run("r-long")
    assert handle.status == "completed"
    assert await wf.run(run_id="r-long") == first
    assert calls == [0, 1, 2]
