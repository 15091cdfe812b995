"""The timeline drawn in Chromium: a 10,000-step run's first render and its scrolling (issue 15).

Loads the built widget bundle (``nbdurable/static/widget.js``, the live timeline) into a blank
page in headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) and calls its
``render`` with a model holding a 10,000-step snapshot. Measured in the page with performance
marks: from before ``render`` to the end of the first frame after it (layout and paint
included), and, scrolling the step list by one viewport per frame from top to bottom, how long
each frame took. Also counted: the step rows in the DOM (windowed rows keep it a few dozen).

    .venv/bin/python bench/timeline_browser_bench.py [--steps 10000] [--reps 5]

Prints one JSON line per repetition, then the medians; never run as a test (times are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
WIDGET = REPO / "nbdurable" / "static" / "widget.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
T0 = 1_767_268_800.0

# In the page: import the bundle from a blob URL, render the snapshot, and measure with performance marks.
MEASURE = """
async ([code, snapshot]) => {
  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  const widget = (await import(url)).default;
  const model = { get: () => snapshot, on() {}, off() {}, send() {} };
  const el = document.getElementById('host');
  const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
  performance.mark('render-start');
  widget.render({ model, el });
  el.getBoundingClientRect();
  await frame();
  performance.mark('render-end');
  const render = performance.measure('render', 'render-start', 'render-end').duration;
  const list = el.querySelector('.nbd-rows');
  const rowsInDom = el.querySelectorAll('.nbd-step').length;
  const frames = [];
  let last = performance.now();
  while (list.scrollTop + list.clientHeight < list.scrollHeight - 1) {
    list.scrollTop += list.clientHeight;
    await frame();
    const t = performance.now();
    frames.push(t - last);
    last = t;
  }
  const drawn = el.querySelectorAll('.nbd-step');
  const lastStep = drawn[drawn.length - 1]?.getAttribute('data-step-id');
  return { render_ms: render, rows_in_dom: rowsInDom, scroll_frames: frames, last_step: lastStep };
}
"""


def snapshot(n: int) -> dict[str, Any]:
    steps = [
        {
            "step_id": f"step-{i}",
            "name": f"fetch page {i}",
            "kind": "run",
            "status": "completed",
            "replayed": False,
            "position": i,
            "attempt": 1,
            "max_attempts": 1,
            "started_at": T0 + i * 0.01,
            "ended_at": T0 + i * 0.01 + 0.005,
            "output_preview": f'{{"page": {i}}}',
            "output_size": 12,
            "idempotency_key": f"run/step-{i}",
        }
        for i in range(n)
    ]
    run = {
        "run_id": "bench",
        "function_id": "crawl",
        "status": "completed",
        "started_at": T0,
        "ended_at": T0 + n * 0.01,
        "now": T0 + n * 0.01,
        "steps_done": n,
        "steps_total": n,
    }
    return {"version": 1, "run": run, "steps": steps, "steps_omitted": 0, "actions": {"rerun": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if not WIDGET.is_file():
        raise SystemExit(f"{WIDGET} is missing: build it with `npm run build` in labextension/ (or pip install -e .)")
    code = WIDGET.read_text("utf-8")
    snap = snapshot(args.steps)
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(args.reps):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_content('<!doctype html><html><body><div id="host"></div></body></html>')
                out = page.evaluate(MEASURE, [code, snap])
                page.close()
                frames = sorted(out.pop("scroll_frames"))
                out["scroll_frames"] = len(frames)
                out["scroll_frame_p95_ms"] = frames[int(0.95 * (len(frames) - 1))] if frames else None
                out["scroll_frame_max_ms"] = frames[-1] if frames else None
                print(json.dumps(out), flush=True)
                results.append(out)
        finally:
            browser.close()
    summary = {
        "steps": args.steps,
        "render_ms_median": statistics.median(r["render_ms"] for r in results),
        "render_ms_max": max(r["render_ms"] for r in results),
        "scroll_frame_p95_ms_median": statistics.median(r["scroll_frame_p95_ms"] for r in results),
        "rows_in_dom": max(r["rows_in_dom"] for r in results),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
