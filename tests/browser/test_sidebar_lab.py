"""The "Durable runs" sidebar in a real JupyterLab (and Notebook 7) in headless Chromium.

One JupyterLab for the module, with nbdurable's server extension serving the journal
under its root and defining the test workflows (``c.NbDurable.function_modules``), so it
can resume and rerun them. Runs are made by other real processes (``_sidebar_worker.py``)
and by a real kernel running a ``%%durable`` cell, while the sidebar is open; the user
acts from the sidebar, its dialogs and the run tab as they would with a mouse or the
keyboard. One page is shared by the JupyterLab tests (loaded once), so they run in order.

Screenshots go to a temporary folder, or to ``$NBDURABLE_SCREENSHOT_DIR`` when set
(``scripts/docs-images.sh`` sets it to docs/images for the guide).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

import nbdurable as nd
from nbdurable.journal._protocol import Write
from tests.browser.conftest import REPO, Lab, start_lab, stop_lab

pytestmark = pytest.mark.browser

WORKER = Path(__file__).with_name("_sidebar_worker.py")
JOURNAL = ".nbdurable/journal.db"
LIVE = 30_000  # a change made by another process reaches the sidebar well within this
KERNEL_TIMEOUT = 90_000

JUMP_NOTEBOOK = "jump.ipynb"
JUMP_CELLS = [
    "%load_ext nbdurable",
    "x = 1",
    "%%durable jumpy\nfirst = await step.run('first', lambda: 1)\nsecond = await step.run('second', lambda: first + 1)",
    "y = 2",
]
JUMP_CELL_ID = "cell-2"


# ---------------------------------------------------------------- the server, the page, the workers


@pytest.fixture(scope="module")
def sidebar_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = start_lab(
        tmp_path_factory.mktemp("sidebar"),
        nbdurable={
            "poll_interval": 0.2,
            "scan_interval": 1.0,
            "function_modules": ["tests.browser._sidebar_workflows"],
        },
    )
    try:
        # The project's journal exists before the tests (as it would after a first run), so the server serves it.
        nd.SQLiteJournal(server.root / JOURNAL).close()
        deadline = time.monotonic() + 30
        while not server.api("GET", "/nbdurable/api/journals")["journals"]:
            assert time.monotonic() < deadline, "the server did not find the journal"
            time.sleep(0.2)
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="module", autouse=True)
def _patient_assertions() -> Iterator[None]:
    """Assertions wait up to 15 s (Playwright's default is 5 s): the machine running the whole suite is shared
    and busy, and every check here waits for something the page will show, not for a time limit."""
    expect.set_options(timeout=15_000)
    try:
        yield
    finally:
        expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def shots(images: Path) -> Path:
    return images


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def lab_page(context: BrowserContext, sidebar_lab: Lab) -> Iterator[Page]:
    """JupyterLab, loaded once, with the sidebar shown; JavaScript errors of ours fail the test that made them."""
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    tab.nbd_errors = errors  # type: ignore[attr-defined]
    tab.goto(sidebar_lab.url("/lab?reset"))
    _show_sidebar(tab)
    yield tab
    tab.close()


@pytest.fixture(autouse=True)
def _no_errors_of_ours(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "lab_page" in request.fixturenames:
        page: Page = request.getfixturevalue("lab_page")
        errors: list[str] = page.nbd_errors  # type: ignore[attr-defined]
        ours = [e for e in errors if "nbd" in e.lower() or "nbdurable" in e.lower()]
        errors.clear()
        assert ours == [], ours


class Workers:
    """Runs of the test workflows made by other processes on the served journal."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def journal(self) -> Path:
        return self.lab.root / JOURNAL

    def start(
        self, function_id: str, run_id: str, data: dict[str, Any] | None = None, journal: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = self.lab.root.parent / f"{run_id}.out.json"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        payload = json.dumps(data or {})
        where = journal or self.journal
        command = [sys.executable, str(WORKER), str(where), function_id, run_id, payload, str(out)]
        proc = subprocess.Popen(command, env=env, cwd=REPO)
        self.procs.append(proc)
        return proc

    def outcome(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        out = self.lab.root.parent / f"{run_id}.out.json"
        deadline = time.monotonic() + timeout
        while not out.exists():
            assert time.monotonic() < deadline, f"the worker of {run_id} did not finish"
            time.sleep(0.1)
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def workers(sidebar_lab: Lab) -> Iterator[Workers]:
    made = Workers(sidebar_lab)
    try:
        yield made
    finally:
        made.stop()


# ---------------------------------------------------------------- driving the sidebar


def _show_sidebar(page: Page) -> None:
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('nbdurable:show-runs')", timeout=60_000
    )
    page.evaluate(
        "async () => { await window.jupyterapp.restored;"
        " await window.jupyterapp.commands.execute('nbdurable:show-runs'); }"
    )
    expect(page.locator("#nbdurable-runs")).to_be_visible()
    expect(page.locator("#nbdurable-runs .nbd-sb-feed")).to_have_attribute("data-state", "live", timeout=LIVE)


def _row(page: Page, run_id: str) -> Locator:
    return page.locator(f'#nbdurable-runs .nbd-sb-run[data-run-id="{run_id}"]')


def _action(page: Page, run_id: str, action: str) -> Locator:
    return _row(page, run_id).locator(f'[data-action="{action}"]')


def _dialog(page: Page) -> Locator:
    return page.locator(".jp-Dialog")


def _tab(page: Page, run_id: str) -> Locator:
    return page.locator(f'.nbd-sb-runview[data-run-id="{run_id}"]')


def _counts(lab: Lab) -> dict[str, int]:
    counts: dict[str, int] = lab.api("GET", "/nbdurable/api/runs?limit=1")["counts"]
    return counts


def _shot(locator: Locator, path: Path) -> None:
    locator.screenshot(path=str(path))
    assert path.stat().st_size > 5_000, f"{path} looks empty"


def _record_rows(page: Page, run_id: str) -> None:
    """Record every state the run's row shows (status and progress), from now on."""
    page.evaluate(
        """(runId) => {
            window.__nbdRows = window.__nbdRows || {};
            const seen = (window.__nbdRows[runId] = []);
            const look = () => {
                const row = document.querySelector(`#nbdurable-runs .nbd-sb-run[data-run-id="${runId}"]`);
                if (row) {
                    const state = row.dataset.status + ' ' + row.querySelector('.nbd-sb-meta span').textContent;
                    if (seen[seen.length - 1] !== state) seen.push(state);
                }
            };
            new MutationObserver(look).observe(document.querySelector('#nbdurable-runs'),
                { subtree: true, childList: true, attributes: true, characterData: true });
        }""",
        run_id,
    )


def _recorded(page: Page, run_id: str) -> list[str]:
    states: list[str] = page.evaluate("(runId) => window.__nbdRows[runId]", run_id)
    return states


def _type_json(page: Page, text: str) -> None:
    editor = _dialog(page).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


# ---------------------------------------------------------------- the tests


def test_runs_made_by_another_process_appear_live(lab_page: Page, sidebar_lab: Lab, workers: Workers) -> None:
    page = lab_page
    listings: list[str] = []
    page.on(
        "request",
        lambda r: listings.append(r.url) if "/nbdurable/api/runs?" in r.url and "limit=1&" not in r.url else None,
    )
    _record_rows(page, "live-1")
    workers.start("sb-steps", "live-1", {"n": 4, "pause": 0.7})
    expect(_row(page, "live-1")).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(_row(page, "live-1").locator(".nbd-sb-meta")).to_contain_text("4 / 4 steps")
    states = _recorded(page, "live-1")
    running = [s for s in states if s.startswith("running")]
    assert len(running) >= 2, f"the row should have moved while the run went on, saw {states}"
    assert states[-1] == "completed 4 / 4 steps", states
    # Everything came through the live feed: the list was never asked for again.
    assert listings == [], listings
    group = _row(page, "live-1").locator("xpath=ancestor::section[1]")
    expect(group.locator(".nbd-sb-group-label")).to_have_text(f"{JOURNAL}: not from a notebook")
    assert workers.outcome("live-1")["status"] == "completed"


def test_a_journal_made_later_in_a_subfolder_is_listed_live_in_its_own_group_and_filtered(
    lab_page: Page, sidebar_lab: Lab, workers: Workers
) -> None:
    page = lab_page
    team = "team/" + JOURNAL
    nd.SQLiteJournal(sidebar_lab.root / team).close()  # as a first run in that folder would leave it
    select = page.locator("#nbdurable-runs .nbd-sb-journal")
    expect(select).to_be_visible(timeout=LIVE)  # the server's scan found it; the feed said so
    expect(select.locator("option")).to_have_text(["All journals", JOURNAL, team])
    _record_rows(page, "team-1")
    workers.start("sb-steps", "team-1", {"n": 3, "pause": 0.7}, journal=sidebar_lab.root / team)
    expect(_row(page, "team-1")).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert any(s.startswith("running") for s in _recorded(page, "team-1")), _recorded(page, "team-1")
    group = _row(page, "team-1").locator("xpath=ancestor::section[1]")
    expect(group.locator(".nbd-sb-group-label")).to_have_text(f"{team}: not from a notebook")
    # One journal at a time, then all again.
    select.select_option(team)
    expect(page.locator("#nbdurable-runs .nbd-sb-run")).to_have_count(1)
    expect(_row(page, "team-1")).to_be_visible()
    select.select_option("")
    expect(_row(page, "live-1")).to_be_visible()
    expect(_row(page, "team-1")).to_be_visible()


def test_a_run_opens_in_a_tab_drawn_by_the_timeline_renderer_and_updated_live(
    lab_page: Page, workers: Workers, shots: Path
) -> None:
    page = lab_page
    workers.start("sb-steps", "tab-1", {"n": 5, "pause": 0.9})
    expect(_row(page, "tab-1")).to_have_attribute("data-status", "running", timeout=LIVE)
    _row(page, "tab-1").locator(".nbd-sb-open").click()
    view = _tab(page, "tab-1")
    expect(view.locator(".nbd-timeline")).to_be_visible()
    first = view.locator(".nbd-step").count()
    expect(view.locator(".nbd-timeline")).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(view.locator(".nbd-step")).to_have_count(5)
    assert first < 5, "the tab should have opened on a run still going, then grown"
    expect(view.locator(".nbd-step .nbd-status").first).to_have_text("completed")
    title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(title).to_contain_text("sb-steps · tab-1")
    _shot(page.locator("#main"), shots / "lab-sidebar-run-tab.png")


def test_cancel_asks_first_then_cancels_a_run_of_another_process(
    lab_page: Page, sidebar_lab: Lab, workers: Workers
) -> None:
    page = lab_page
    workers.start("sb-sleeper", "nap-1")
    expect(_row(page, "nap-1")).to_have_attribute("data-status", "sleeping", timeout=LIVE)
    _action(page, "nap-1", "cancel").click()
    expect(_dialog(page)).to_contain_text("Cancel this run?")
    expect(_dialog(page)).to_contain_text("nap-1")
    _dialog(page).get_by_role("button", name="Keep running").click()
    expect(_dialog(page)).to_have_count(0)
    time.sleep(1)  # a cancel would have reached the journal by now
    assert sidebar_lab.api("GET", "/nbdurable/api/runs?text=nap-1")["runs"][0]["status"] == "sleeping"
    _action(page, "nap-1", "cancel").click()
    _dialog(page).get_by_role("button", name="Cancel run").click()
    expect(_row(page, "nap-1")).to_have_attribute("data-status", "cancelled", timeout=LIVE)
    assert workers.outcome("nap-1")["status"] == "cancelled"
    expect(_action(page, "nap-1", "cancel")).to_have_count(0)


def test_approve_in_the_json_editor_checks_the_json_and_the_badge_counts_waiting_runs(
    lab_page: Page, sidebar_lab: Lab, workers: Workers, shots: Path
) -> None:
    page = lab_page
    workers.start("sb-approver", "ok-1", {"run": "ok-1"})
    workers.start("sb-approver", "ok-2", {"run": "ok-2"})
    for run_id in ("ok-1", "ok-2"):
        expect(_row(page, run_id)).to_have_attribute("data-status", "waiting", timeout=LIVE)
    assert _counts(sidebar_lab)["waiting"] == 2
    badge = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nbdurable-runs"] .nbd-sb-tab-badge')
    expect(badge).to_have_text("2", timeout=LIVE)
    _shot(page.locator("#nbdurable-runs"), shots / "lab-sidebar.png")

    _action(page, "ok-1", "send-event").click()
    dialog = _dialog(page)
    expect(dialog).to_contain_text("Run ok-1 waits for sb/approved")
    expect(dialog.locator(".nbd-sb-event-name")).to_have_value("sb/approved")
    send = dialog.get_by_role("button", name="Send event")
    _type_json(page, '{"run": "ok-1", "approved": tru')
    expect(dialog.locator(".nbd-sb-field-error")).to_contain_text("Not valid JSON")
    expect(send).to_be_disabled()
    _type_json(page, '["not", "an object"]')
    expect(dialog.locator(".nbd-sb-field-error")).to_have_text(
        'The event data must be a JSON object, like {"approved": true}.'
    )
    expect(send).to_be_disabled()
    _type_json(page, '{"run": "ok-1", "approved": true, "by": "ana"}')
    expect(dialog.locator(".nbd-sb-field-error")).to_have_text("")
    dialog.get_by_role("button", name="Format JSON").click()
    expect(dialog.locator(".cm-content")).to_contain_text('"by": "ana"')
    send.click()
    expect(_row(page, "ok-1")).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert workers.outcome("ok-1") == {"status": "completed", "result": {"run": "ok-1", "approved": True, "by": "ana"}}
    expect(badge).to_have_text("1", timeout=LIVE)
    assert _row(page, "ok-2").get_attribute("data-status") == "waiting"  # the condition named the other run

    # The same from the run's tab: the timeline's own approve form, through the REST API.
    _row(page, "ok-2").locator(".nbd-sb-open").click()
    view = _tab(page, "ok-2")
    view.locator("textarea.nbd-payload").fill('{"run": "ok-2", "approved": false}')
    view.locator("button.nbd-send").click()
    expect(view.locator(".nbd-timeline")).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert workers.outcome("ok-2")["result"] == {"run": "ok-2", "approved": False}
    expect(badge).to_have_count(0, timeout=LIVE)
    caption = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nbdurable-runs"]').get_attribute("title")
    assert caption == "Durable runs", caption


def test_resume_a_failed_run_in_the_server_and_a_refused_resume_says_where(
    lab_page: Page, sidebar_lab: Lab, workers: Workers
) -> None:
    page = lab_page
    flag = sidebar_lab.root.parent / "flaky-1.flag"
    workers.start("sb-flaky", "flaky-1", {"flag": str(flag)})
    expect(_row(page, "flaky-1")).to_have_attribute("data-status", "failed", timeout=LIVE)
    expect(_row(page, "flaky-1").locator(".nbd-sb-why")).to_contain_text("RuntimeError: the flag file")
    flag.write_text("here")
    _action(page, "flaky-1", "resume").click()
    expect(_row(page, "flaky-1")).to_have_attribute("data-status", "completed", timeout=LIVE)
    assert sidebar_lab.api("GET", "/nbdurable/api/runs?text=flaky-1")["runs"][0]["steps_done"] == 2

    # A failed run of a function the server does not define: it answers 409 and where to resume it.
    journal = nd.SQLiteJournal(sidebar_lab.root / JOURNAL)
    try:
        now = time.time()
        record = nd.RunRecord("away-1", "defined-elsewhere", created_at=now, updated_at=now, status="failed")
        journal.write([Write("run", run=record)])
    finally:
        journal.close()
    expect(_row(page, "away-1")).to_have_attribute("data-status", "failed", timeout=LIVE)
    _action(page, "away-1", "resume").click()
    dialog = _dialog(page)
    expect(dialog).to_contain_text("Could not resume the run")
    expect(dialog.locator(".nbd-sb-error-message")).to_contain_text("away-1")
    expect(dialog).to_contain_text("Run this in the process that defines defined-elsewhere")
    expect(dialog.locator("pre.nbd-sb-code")).to_have_text("nd.get_run('away-1').resume()")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)


def test_rerun_from_a_step_opens_the_new_run(lab_page: Page, workers: Workers) -> None:
    page = lab_page
    _row(page, "live-1").locator(".nbd-sb-open").click()
    view = _tab(page, "live-1")
    expect(view.locator(".nbd-step")).to_have_count(4)
    page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-Toolbar").get_by_text("Rerun From a Step…").click()
    dialog = _dialog(page)
    dialog.locator("select").select_option("step-3")
    dialog.get_by_role("button", name="Rerun").click()
    rerun = _tab(page, "live-1~1")
    expect(rerun.locator(".nbd-timeline")).to_have_attribute("data-status", "completed", timeout=LIVE)
    steps = rerun.locator(".nbd-step")
    expect(steps).to_have_count(4)
    expect(rerun.locator('.nbd-step[data-replayed="true"]')).to_have_count(2)
    expect(_row(page, "live-1~1").locator(".nbd-sb-meta")).to_contain_text("rerun of live-1")

    # The timeline's own "Rerun from this step", in a step's details.
    view = _tab(page, "live-1")
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="sb-steps · live-1").first.click()
    view.locator('.nbd-step[data-step-id="step-4"] button.nbd-row').click()
    view.locator('.nbd-step[data-step-id="step-4"] button.nbd-rerun').click()
    expect(_tab(page, "live-1~2").locator(".nbd-timeline")).to_have_attribute("data-status", "completed", timeout=LIVE)
    expect(_tab(page, "live-1~2").locator('.nbd-step[data-replayed="true"]')).to_have_count(3)


def _run_jump_notebook(page: Page, lab: Lab) -> str:
    """Run the notebook's cells in its kernel; return the id of the %%durable cell's run."""
    lab.write_notebook(JUMP_NOTEBOOK, JUMP_CELLS)
    page.evaluate(
        "async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }", JUMP_NOTEBOOK
    )
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const kernel = w && w.sessionContext && w.sessionContext.session?.kernel;
            return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=KERNEL_TIMEOUT,
    )
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline = time.monotonic() + KERNEL_TIMEOUT / 1000
    while True:
        runs = lab.api("GET", "/nbdurable/api/runs?function=cell:jumpy")["runs"]
        if runs and runs[0]["status"] == "completed":
            run_id: str = runs[0]["run_id"]
            assert runs[0]["notebook"] == JUMP_NOTEBOOK, runs[0]
            assert runs[0]["cell_id"] == JUMP_CELL_ID, runs[0]
            return run_id
        assert time.monotonic() < deadline, f"the %%durable cell's run did not complete: {runs}"
        time.sleep(0.3)


def _active_cell_id(page: Page) -> str | None:
    cell_id: str | None = page.evaluate(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            return w && w.content && w.content.activeCell ? w.content.activeCell.model.id : null;
        }"""
    )
    return cell_id


def test_go_to_the_cell_that_started_a_run(lab_page: Page, sidebar_lab: Lab) -> None:
    page = lab_page
    run_id = _run_jump_notebook(page, sidebar_lab)
    expect(_row(page, run_id)).to_have_attribute("data-status", "completed", timeout=LIVE)
    group = _row(page, run_id).locator("xpath=ancestor::section[1]")
    expect(group.locator(".nbd-sb-group-label")).to_have_text(JUMP_NOTEBOOK)
    # Leave the notebook: save it (no "unsaved changes" question), close it, so going to the cell must open it again.
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('docmanager:save');"
        " await window.jupyterapp.commands.execute('application:close-all'); }"
    )
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel')")
    _action(page, run_id, "go-to-cell").click()
    page.wait_for_function(
        "(id) => { const w = window.jupyterapp.shell.currentWidget; return w && w.content && w.content.activeCell"
        " && w.content.activeCell.model.id === id; }",
        arg=JUMP_CELL_ID,
        timeout=KERNEL_TIMEOUT,
    )
    active = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active")
    expect(active).to_be_in_viewport()
    expect(active).to_contain_text("%%durable jumpy")

    # A cell's run is rerun by its notebook only: the refusal offers to go there.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:move-cursor-up'); }")
    assert _active_cell_id(page) != JUMP_CELL_ID
    page.evaluate(
        "async (args) => { await window.jupyterapp.commands.execute('nbdurable:rerun-run', args); }",
        {"run_id": run_id, "journal": JOURNAL, "from_step": "second"},
    )
    dialog = _dialog(page)
    expect(dialog).to_contain_text("Could not rerun the run")
    expect(dialog).to_contain_text(f"Run this in the notebook {JUMP_NOTEBOOK}")
    expect(dialog.locator("pre.nbd-sb-code")).to_contain_text(f"%durable rerun {run_id}")
    dialog.get_by_role("button", name="Go to the cell").click()
    page.wait_for_function(
        "(id) => window.jupyterapp.shell.currentWidget.content.activeCell.model.id === id", arg=JUMP_CELL_ID
    )


def test_the_keyboard_reaches_every_row_and_action(lab_page: Page) -> None:
    page = lab_page
    page.evaluate("async () => { await window.jupyterapp.commands.execute('nbdurable:show-runs'); }")
    focused = page.locator("#nbdurable-runs :focus")
    expect(focused).to_have_count(1)
    assert focused.get_attribute("data-nav", timeout=5_000) is not None, "the list's active item takes the focus"
    # Arrow keys walk the items; Home goes to the first group's header.
    page.keyboard.press("Home")
    expect(focused).to_have_class("nbd-sb-group-header")
    page.keyboard.press("ArrowDown")
    expect(focused).to_have_class("nbd-sb-open")
    run_id = focused.evaluate("el => el.closest('.nbd-sb-run').dataset.runId")
    # Tab goes to the row's own buttons, with a visible focus ring.
    page.keyboard.press("Tab")
    expect(focused).to_have_class("jp-Button jp-mod-minimal nbd-sb-action")
    outline = focused.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", ""), f"the focused button shows no focus ring: {outline}"
    page.keyboard.press("Shift+Tab")
    expect(focused).to_have_class("nbd-sb-open")
    page.keyboard.press("Enter")
    expect(_tab(page, run_id)).to_be_visible()
    # The new tab takes the focus once shown (JupyterLab focuses an activated tab after it is revealed).
    page.wait_for_function("() => !!document.activeElement?.closest('.nbd-sb-runtab')")
    # Back in the list (the command focuses it), Space folds the group and unfolds it.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('nbdurable:show-runs'); }")
    expect(focused).to_have_count(1)
    page.keyboard.press("Home")
    header = page.locator("#nbdurable-runs .nbd-sb-group-header").first
    expect(header).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Space")
    expect(header).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowRight")
    expect(header).to_have_attribute("aria-expanded", "true")
    # The search box filters through the server; Escape clears it.
    search = page.locator("#nbdurable-runs .nbd-sb-search")
    search.focus()
    page.keyboard.type("flaky")
    expect(page.locator("#nbdurable-runs .nbd-sb-run")).to_have_count(1)
    expect(_row(page, "flaky-1")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#nbdurable-runs .nbd-sb-run")).not_to_have_count(1)
    # The status chips are toggle buttons.
    chip = page.locator('#nbdurable-runs .nbd-sb-chip[data-status="cancelled"]')
    chip.focus()
    page.keyboard.press("Enter")
    expect(page.locator('#nbdurable-runs .nbd-sb-chip[data-status="cancelled"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#nbdurable-runs .nbd-sb-run")).to_have_count(1)
    expect(_row(page, "nap-1")).to_be_visible()
    page.locator('#nbdurable-runs .nbd-sb-chip[data-status=""]').click()
    expect(page.locator("#nbdurable-runs .nbd-sb-run")).not_to_have_count(1)


def _rgba(css: str) -> tuple[float, float, float, float]:
    """The channels (0-255) and alpha (0-1) of a computed rgb()/rgba() colour."""
    inner = css[css.index("(") + 1 : css.index(")")]
    parts = [float(part) for part in inner.replace("/", ",").split(",")]
    return parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of a text colour (blended over the background when translucent) and its background."""
    *back, _ = _rgba(background)
    *front, alpha = _rgba(foreground)
    text = [alpha * f + (1 - alpha) * b for f, b in zip(front, back, strict=True)]

    def luminance(channels: list[float]) -> float:
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (x / 255 for x in channels)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(text), luminance(back)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture(scope="module")
def every_status(lab_page: Page, sidebar_lab: Lab, workers: Workers) -> None:
    """Besides the finished runs of the tests before: a run waiting for an event, and one whose process was
    SIGKILLed mid-sleep (interrupted), so every kind of badge (and the side bar's count) is on screen."""
    workers.start("sb-approver", "th-wait", {"run": "th-wait"})
    sleeper = workers.start("sb-sleeper", "th-kill")
    expect(_row(lab_page, "th-kill")).to_have_attribute("data-status", "sleeping", timeout=LIVE)
    sleeper.kill()
    sleeper.wait(timeout=10)
    expect(_row(lab_page, "th-kill")).to_have_attribute("data-status", "interrupted", timeout=LIVE)
    expect(_row(lab_page, "th-wait")).to_have_attribute("data-status", "waiting", timeout=LIVE)


@pytest.mark.parametrize("theme", ["JupyterLab Dark", "JupyterLab Dark High Contrast", "JupyterLab Light"])
def test_every_theme_keeps_the_sidebar_legible(lab_page: Page, theme: str, shots: Path, every_status: None) -> None:
    page = lab_page
    page.evaluate(
        "async (theme) => { await window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }", theme
    )
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme", arg=theme)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('nbdurable:show-runs'); }")
    time.sleep(0.5)  # the theme's stylesheet applies
    panel = page.locator("#nbdurable-runs")
    expected_bg = page.evaluate(
        "() => { const probe = document.createElement('div'); probe.style.background = 'var(--jp-layout-color1)';"
        " document.body.appendChild(probe); const c = getComputedStyle(probe).backgroundColor; probe.remove();"
        " return c; }"
    )
    assert panel.evaluate("el => getComputedStyle(el).backgroundColor") == expected_bg
    colours: list[dict[str, str]] = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '#nbdurable-runs .nbd-sb-badge, #nbdurable-runs .nbd-sb-name, #nbdurable-runs .nbd-sb-meta,'
                + ' #nbdurable-runs .nbd-sb-chip, #nbdurable-runs .nbd-sb-why, .jp-SideBar .nbd-sb-tab-badge'))
            .map(el => {
                const style = getComputedStyle(el);
                let bg = style.backgroundColor;
                for (let n = el; n && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg); n = n.parentElement) {
                    bg = getComputedStyle(n).backgroundColor;
                }
                return {text: el.textContent, cls: el.className, fg: style.color, bg};
            })"""
    )
    assert len(colours) > 10
    badges = {item["text"] for item in colours if item["cls"] == "nbd-sb-badge"}
    assert {"waiting", "interrupted", "completed", "failed", "cancelled"} <= badges, badges
    assert any(item["cls"] == "nbd-sb-tab-badge" for item in colours), "the side bar's count of waiting runs"
    for item in colours:
        ratio = _contrast(item["fg"], item["bg"])
        assert ratio >= 4.5, f"{theme}: {item} has a contrast of {ratio:.2f}, under WCAG AA's 4.5"
    name = theme.lower().replace("jupyterlab ", "").replace(" ", "-")
    _shot(panel, shots / f"lab-sidebar-{name}.png")


def test_a_run_whose_process_was_killed_resumes_in_the_server_then_is_cancelled(
    lab_page: Page, sidebar_lab: Lab, every_status: None
) -> None:
    page = lab_page
    # th-kill's process was SIGKILLed while it slept: the server takes it over where it was.
    _action(page, "th-kill", "resume").click()
    expect(_row(page, "th-kill")).to_have_attribute("data-status", "sleeping", timeout=LIVE)
    steps = sidebar_lab.api("GET", "/nbdurable/api/runs/th-kill")["steps"]
    assert [(s["step_id"], s["replayed"]) for s in steps][:1] == [("before", True)], steps
    _action(page, "th-kill", "cancel").click()
    _dialog(page).get_by_role("button", name="Cancel run").click()
    expect(_row(page, "th-kill")).to_have_attribute("data-status", "cancelled", timeout=LIVE)
    assert [s["step_id"] for s in sidebar_lab.api("GET", "/nbdurable/api/runs/th-kill")["steps"]] == ["before", "nap"]


def test_notebook7_has_the_sidebar_goes_to_cells_and_shows_timelines(
    context: BrowserContext, sidebar_lab: Lab, workers: Workers, shots: Path
) -> None:
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        run_id = sidebar_lab.api("GET", "/nbdurable/api/runs?function=cell:jumpy")["runs"][0]["run_id"]
        page.goto(sidebar_lab.url(f"/notebooks/{JUMP_NOTEBOOK}"))
        _show_sidebar(page)
        expect(_row(page, run_id)).to_be_visible()
        expect(_row(page, "live-1")).to_be_visible()
        # The same notebook: the cell is selected on this page.
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.content?.widgets?.length === 4")
        page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }")
        _action(page, run_id, "go-to-cell").click()
        page.wait_for_function(
            "(id) => window.jupyterapp.shell.currentWidget.content.activeCell.model.id === id", arg=JUMP_CELL_ID
        )
        # A run's timeline opens in the panel below the notebook (the page's main area holds the notebook).
        workers.start("sb-steps", "nb7-1", {"n": 3, "pause": 0.5})
        expect(_row(page, "nb7-1")).to_be_visible(timeout=LIVE)
        _row(page, "nb7-1").locator(".nbd-sb-open").click()
        view = _tab(page, "nb7-1")
        expect(view.locator(".nbd-timeline")).to_have_attribute("data-status", "completed", timeout=LIVE)
        expect(view.locator(".nbd-step")).to_have_count(3)
        assert view.evaluate("el => !!el.closest('#jp-down-stack')"), "the timeline should be in the down panel"
        # ...with room to read it, not squeezed to its toolbar.
        expect(view.locator(".nbd-step").last).to_be_in_viewport()
        box = view.bounding_box()
        assert box is not None and box["height"] > 200, box
        page.screenshot(path=str(shots / "notebook7-sidebar.png"))  # Notebook 7's body has no box of its own
        assert (shots / "notebook7-sidebar.png").stat().st_size > 5_000

        # From the file browser page, a notebook's cell opens in a new browser tab at that cell.
        page.goto(sidebar_lab.url("/tree"))
        _show_sidebar(page)
        with context.expect_page() as opened:
            _action(page, run_id, "go-to-cell").click()
        notebook = opened.value
        assert f"/notebooks/{JUMP_NOTEBOOK}" in notebook.url and f"#cell-id={JUMP_CELL_ID}" in notebook.url
        notebook.wait_for_function(
            "(id) => window.jupyterapp?.shell.currentWidget?.content?.activeCell?.model.id === id",
            arg=JUMP_CELL_ID,
            timeout=KERNEL_TIMEOUT,
        )
        notebook.close()
        assert [e for e in errors if "nbd" in e.lower()] == []
    finally:
        page.close()
