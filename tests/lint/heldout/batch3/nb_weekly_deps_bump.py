# %% [markdown]
# # Weekly dependency bump
# Run from the repo root on `main`. Bumps the lock file, runs the tests, opens a PR.

# %%
%load_ext nbdurable
import json
import os
import subprocess

import httpx

import nbdurable as nd

GITEA = "http://git.acme.internal/api/v1/repos/platform/api"

# %%
def bump_deps(path: str) -> list[str]:
    subprocess.run(["uv", "lock", "--upgrade"], cwd=path, check=True)
    out = subprocess.run(["git", "diff", "--name-only"], cwd=path, capture_output=True, text=True, check=True)
    return out.stdout.split()


def run_tests(path: str) -> bool:
    return subprocess.run(["uv", "run", "pytest", "-q", "-x"], cwd=path).returncode == 0


def open_pr(branch: str, title: str) -> dict:
    subprocess.run(["git", "checkout", "-B", branch], check=True)
    subprocess.run(["git", "commit", "-am", title], check=True)
    subprocess.run(["git", "push", "-f", "origin", branch], check=True)
    r = httpx.post(f"{GITEA}/pulls", json={"head": branch, "base": "main", "title": title}, timeout=20)
    return r.json()

# %%
%%durable weekly-deps
current = !git rev-parse --abbrev-ref HEAD  # <- ND331
if current[0] != "main":
    raise RuntimeError(f"run this from main, not {current[0]}")
changed = await step.run("bump", bump_deps, ".")
if not changed:
    print("nothing to bump")
else:
    ok = await step.run("tests", run_tests, ".")
    lint_rc = os.system("uv run ruff check --quiet .")  # <- ND331
    title = "Weekly dependency bump" + ("" if ok and lint_rc == 0 else " (needs attention)")
    pr = await step.run("pr", open_pr, f"deps/{ctx.run_id}", title)
    print(pr["html_url"])

# %%
%%durable weekly-deps-2
branch = await step.run("branch", lambda: subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True, text=True).stdout.strip())
if branch != "main":
    raise RuntimeError(f"run this from main, not {branch}")
changed = await step.run("bump", bump_deps, ".")
if changed:
    ok = await step.run("tests", run_tests, ".")
    pr = await step.run("pr", open_pr, f"deps/{ctx.run_id}", "Weekly dependency bump" + ("" if ok else " (tests fail)"))
    print(json.dumps(pr, indent=1)[:500])
