"""Measure what durability costs an agent framework per model request, and write it to docs/benchmarks.md.

Why: an agent run on nbdurable journals every model request and tool call; that must cost
little next to the request itself. The same agent (a tool-calling loop: ``--turns`` tool
calls, then an answer) runs bare, on nbdurable, and on DBOS's integration where there is one,
against the scripted LLM server on loopback (in this process, so every variant pays the same
HTTP round trip). Each variant runs in a fresh worker process under bench/.venv (bench/setup.sh
installs the frameworks and DBOS there; the project's own environment never holds DBOS),
``--runs`` agent runs after one warm-up run, repeated ``--reps`` times, interleaved; the
tables give medians and min–max. Overhead is the difference to the bare framework, divided
by the model requests.

    python bench/agents_bench.py             # about 3 minutes on 2 cores; rewrites the Agents results
    python bench/agents_bench.py --no-write  # print only
    python bench/agents_bench.py --reps 1 --runs 3   # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PY = HERE / ".venv" / "bin" / "python"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- agents-bench:results:begin (written by bench/agents_bench.py; edits here are overwritten) -->"
END = "<!-- agents-bench:results:end -->"
KEY = "sk-bench-0123456789abcdef"

# framework -> variants, the first is the bare framework everything is compared with
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "pydantic_ai": [
        ("bare", "`Agent.run`, no durability"),
        ("nbdurable", "`DurableAgent(agent).run(..., run_id=...)`"),
        ("dbos", "`Agent(..., capabilities=[DBOSDurability()])` in a `@DBOS.workflow`"),
    ],
    "openai_agents": [
        ("bare", "`Runner.run`, no durability"),
        ("nbdurable", "`NbDurableRunner.run(..., run_id=...)`"),
        ("dbos", "`DBOSRunner.run` (dbos-openai-agents) in a `@DBOS.workflow`"),
    ],
    "langgraph": [
        ("bare", "`InMemorySaver`"),
        ("nbdurable", "`NbDurableSaver` (the journal), through `run_graph`"),
        ("sqlite", "`AsyncSqliteSaver` (langgraph-checkpoint-sqlite)"),
    ],
}
NAMES = {"pydantic_ai": "Pydantic AI", "openai_agents": "OpenAI Agents SDK", "langgraph": "LangGraph"}


def log(msg: str) -> None:
    print(f"[agents-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the workers: one framework, one variant, N agent runs --------------------------------------------------


def lookup(n: int) -> str:
    """Look a number up (the tool every turn calls)."""
    return f"item {n}"


async def _pydantic_ai(variant: str, url: str, db: str) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=url, api_key=KEY))
    if variant == "dbos":
        from dbos import DBOS
        from pydantic_ai.durable_exec.dbos import DBOSDurability

        DBOS(config={"name": "agents-bench", "system_database_url": f"sqlite:///{db}", "log_level": "WARNING"})
        agent = Agent(model, name="bench", tools=[lookup], capabilities=[DBOSDurability()])

        @DBOS.workflow()
        async def durable(prompt: str) -> str:
            return str((await agent.run(prompt)).output)

        DBOS.launch()
        return lambda i: durable(f"go {i}")
    agent = Agent(model, name="bench", tools=[lookup])
    if variant == "nbdurable":
        import nbdurable as nd
        from nbdurable.integrations.pydantic_ai import DurableAgent

        nd.configure(db)
        durable_agent = DurableAgent(agent)
        return lambda i: durable_agent.run(f"go {i}", run_id=f"run-{i}")
    return lambda i: agent.run(f"go {i}")


async def _openai_agents(variant: str, url: str, db: str) -> Any:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    model = OpenAIChatCompletionsModel("gpt-4o-mini", AsyncOpenAI(base_url=url, api_key=KEY))
    agent = Agent(name="bench", tools=[function_tool(lookup)], model=model)
    if variant == "dbos":
        from dbos import DBOS
        from dbos_openai_agents import DBOSRunner

        DBOS(config={"name": "agents-bench", "system_database_url": f"sqlite:///{db}", "log_level": "WARNING"})

        @DBOS.workflow()
        async def durable(prompt: str) -> str:
            return str((await DBOSRunner.run(agent, prompt)).final_output)

        DBOS.launch()
        return lambda i: durable(f"go {i}")
    if variant == "nbdurable":
        import nbdurable as nd
        from nbdurable.integrations.openai_agents import NbDurableRunner

        nd.configure(db)
        return lambda i: NbDurableRunner.run(agent, f"go {i}", run_id=f"run-{i}")
    return lambda i: Runner.run(agent, f"go {i}")


async def _langgraph(variant: str, url: str, db: str) -> Any:
    from typing import Annotated, TypedDict

    from langgraph.graph import END, START, StateGraph
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key=KEY)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}

    def add(left: list[Any], right: list[Any]) -> list[Any]:
        return left + right

    State = TypedDict("State", {"messages": Annotated[list, add]})  # noqa: UP013 - a local schema

    async def agent_node(state: Any) -> dict[str, Any]:
        out = await client.chat.completions.create(model="gpt-4o-mini", messages=state["messages"], tools=[tool])
        return {"messages": [out.choices[0].message.model_dump(exclude_none=True)]}

    def tools_node(state: Any) -> dict[str, Any]:
        calls = state["messages"][-1]["tool_calls"]
        done = [(c["id"], lookup(**json.loads(c["function"]["arguments"]))) for c in calls]
        return {"messages": [{"role": "tool", "tool_call_id": call_id, "content": r} for call_id, r in done]}

    builder = StateGraph(State)
    builder.add_node("agent", agent_node)
    builder.add_node("tools", tools_node)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
    builder.add_edge("tools", "agent")
    start = {"messages": [{"role": "user", "content": "go"}]}
    if variant == "nbdurable":
        import nbdurable as nd
        from nbdurable.integrations.langgraph import NbDurableSaver, run_graph

        nd.configure(db)
        graph = builder.compile(checkpointer=NbDurableSaver())
        return lambda i: run_graph(graph, start, thread_id=f"t{i}", run_id=f"run-{i}")
    if variant == "sqlite":
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        graph = builder.compile(checkpointer=AsyncSqliteSaver(await aiosqlite.connect(db)))
    else:
        from langgraph.checkpoint.memory import InMemorySaver

        graph = builder.compile(checkpointer=InMemorySaver())
    return lambda i: graph.ainvoke(start, {"configurable": {"thread_id": f"t{i}"}})


async def _work(framework: str, variant: str, url: str, db: str, runs: int) -> dict[str, Any]:
    make = {"pydantic_ai": _pydantic_ai, "openai_agents": _openai_agents, "langgraph": _langgraph}[framework]
    run = await make(variant, url, db)
    await run(-1)  # warm-up: imports, connections, schema
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(runs):
        await run(i)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def worker(args: argparse.Namespace) -> None:
    result = asyncio.run(_work(args.framework, args.variant, args.url, args.db, args.runs))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# -- the orchestrator ------------------------------------------------------------------------------------


def script(turns: int) -> Any:
    """Turn t < ``turns`` calls the tool; then the answer. By turn, so every run gets the same conversation."""
    from nbdurable.testing import reply, tool_call

    def answer(record: Any) -> Any:
        return tool_call("lookup", {"n": record.turn}) if record.turn < turns else reply("done", usage=(50, 2))

    return answer


def measure(framework: str, variant: str, url: str, runs: int, work: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"{framework}-{variant}-", dir=work))
    cmd = [str(VENV_PY), str(Path(__file__).resolve()), "_worker", "--framework", framework, "--variant", variant]
    cmd += ["--url", url, "--db", str(folder / "journal.db"), "--runs", str(runs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    out = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        said = f"{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
        raise RuntimeError(f"{framework}/{variant} exited {out.returncode}:\n{said}")
    row: dict[str, Any] = json.loads(lines[-1])
    return row


def spread(values: list[float], digits: int = 0) -> str:
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def machine() -> dict[str, str]:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()

    versions = sh(
        f"{VENV_PY} -m pip list --format=freeze 2>/dev/null | "
        "grep -iE '^(pydantic-ai-slim|openai-agents|langgraph|langgraph-checkpoint-sqlite|dbos|dbos-openai-agents)=='"
    ).replace("\n", ", ")
    return {
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor(),
        "python": sh(f"{VENV_PY} -c 'import platform; print(platform.python_version())'"),
        "os": sh("uname -sr"),
        "versions": versions,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()),
    }


def render(results: dict[tuple[str, str], list[dict[str, Any]]], args: argparse.Namespace, m: dict[str, str]) -> str:
    requests = args.runs * (args.turns + 1)
    lines = [
        BEGIN,
        "",
        f"Measured {m['date']} with `python bench/agents_bench.py --reps {args.reps} --runs {args.runs} "
        f"--turns {args.turns}`: {m['nproc']} cores, {m['cpu']}, {m['os']}, Python {m['python']}; {m['versions']}; "
        f"load average {m['load']} at the start.",
        "",
        f"Each agent run makes {args.turns + 1} model requests ({args.turns} tool calls, then the answer); "
        f"{args.runs} runs per measurement, medians of {args.reps}, min–max in brackets.",
        "",
        "| Framework | Variant | µs per model request (wall) | overhead, µs per request | CPU, µs per request |",
        "|---|---|---:|---:|---:|",
    ]
    for framework, variants in VARIANTS.items():
        base = results.get((framework, "bare"))
        for variant, what in variants:
            rows = results.get((framework, variant))
            if not rows:
                continue
            wall = [r["wall_s"] / requests * 1e6 for r in rows]
            cpu = [r["cpu_s"] / requests * 1e6 for r in rows]
            over = (
                "—"
                if variant == "bare" or base is None
                else spread([(r["wall_s"] - b["wall_s"]) / requests * 1e6 for r, b in zip(rows, base, strict=False)], 0)
            )
            lines.append(f"| {NAMES[framework]} | {what} | {spread(wall)} | {over} | {spread(cpu)} |")
    lines += ["", END]
    return "\n".join(lines)


SECTION = """## Agent frameworks

What durability costs an agent built with a framework, per model request (issue 19):

```bash
bash bench/setup.sh                    # bench/.venv with the frameworks and DBOS
python bench/agents_bench.py           # about 3 minutes; rewrites the results below
```

The same agent runs bare, on nbdurable and on DBOS (Pydantic AI's `DBOSDurability`, and
`DBOSRunner` of dbos-openai-agents), with DBOS on its SQLite system database; for LangGraph the
checkpointers are compared (in memory, the nbdurable journal, langgraph-checkpoint-sqlite).
The model is the scripted server on loopback, answering at once, so the numbers are the
frameworks' own cost plus one local HTTP round trip; a real model request takes hundreds of
milliseconds.

"""


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + SECTION + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("_worker")
    for name in ("framework", "variant", "url", "db"):
        w.add_argument(f"--{name}", required=True)
    w.add_argument("--runs", type=int, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="these frameworks only (implies --no-write)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.cmd == "_worker":
        worker(args)
        return
    if not VENV_PY.exists():
        sys.exit("bench/.venv is missing: run bash bench/setup.sh first")
    sys.path.insert(0, str(ROOT))
    from nbdurable.testing import ScriptedLLMServer

    frameworks = args.only or list(VARIANTS)
    m = machine()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with ScriptedLLMServer(script(args.turns), mode="by_turn") as server, tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for framework in frameworks:  # interleaved, so a burst of other work hits every variant alike
                for variant, _what in VARIANTS[framework]:
                    try:
                        row = measure(framework, variant, server.openai_base_url, args.runs, Path(tmp))
                    except RuntimeError as exc:
                        log(f"rep {rep + 1} {framework}/{variant} failed, left out: {str(exc)[:300]}")
                        continue
                    results.setdefault((framework, variant), []).append(row)
                    per = row["wall_s"] / (args.runs * (args.turns + 1)) * 1e6
                    log(f"rep {rep + 1} {framework}/{variant}: {per:,.0f} µs per request")
    block = render(results, args, m)
    print(block)
    if not (args.no_write or args.only):
        write_doc(block)
        log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
