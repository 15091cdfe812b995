"""Review bot for pull requests on the API repo: diff + test results -> review comment."""

import shlex
import subprocess

import httpx

import nbdurable as nd

REPO = "/srv/checkouts/api"
GITEA = "http://git.acme.internal/api/v1/repos/platform/api"
reviewer = nd.ai.anthropic("claude-sonnet-4-5")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, check=True).stdout


def run_tests(sha: str) -> dict:
    git("checkout", "--quiet", sha)
    proc = subprocess.run(
        shlex.split("python -m pytest -q -x --timeout 600"), cwd=REPO, capture_output=True, text=True
    )
    return {"ok": proc.returncode == 0, "tail": proc.stdout[-4000:]}


def comment(pr: int, body: str) -> int:
    return httpx.post(f"{GITEA}/issues/{pr}/comments", json={"body": body}, timeout=20).status_code


@nd.function(id="pr-review", trigger="git/pull_request.opened")
async def review(ctx: nd.Context) -> str:
    pr = ctx.event.data
    await ctx.step.run("fetch", git, "fetch", "origin", pr["head_ref"], pr["base_ref"])
    head = git("rev-parse", f"origin/{pr['head_ref']}").strip()  # <- ND331
    diff = await ctx.step.run(f"diff-{head[:8]}", git, "diff", f"origin/{pr['base_ref']}...{head}")  # <- ND701
    tests = await ctx.step.run("tests", run_tests, head)
    resp = await ctx.step.ai.infer(
        "review",
        model=reviewer,
        body={
            "max_tokens": 1500,
            "messages": [
                {
                    "role": "user",
                    "content": f"Review this diff. Tests {'passed' if tests['ok'] else 'failed'}:\n"
                    f"{tests['tail']}\n\n{diff[:60000]}",
                }
            ],
        },
    )
    body = resp["content"][0]["text"]
    await ctx.step.run("comment", comment, pr["number"], body)
    return body


@nd.function(id="pr-review-v2", trigger="git/pull_request.synchronize")
async def review_v2(ctx: nd.Context) -> str:
    """The webhook payload already carries the head sha; no git call outside a step."""
    pr = ctx.event.data
    head = pr["head_sha"]
    await ctx.step.run("fetch", git, "fetch", "origin", pr["head_ref"], pr["base_ref"])
    diff = await ctx.step.run(f"diff-{head[:8]}", git, "diff", f"origin/{pr['base_ref']}...{head}")
    tests = await ctx.step.run(f"tests-{head[:8]}", run_tests, head)
    verdict = "passed" if tests["ok"] else "failed"
    resp = await ctx.step.ai.infer(
        f"review-{head[:8]}",
        model=reviewer,
        body={"max_tokens": 1500, "messages": [{"role": "user", "content": f"Tests {verdict}.\n\n{diff[:60000]}"}]},
    )
    await ctx.step.run("comment", comment, pr["number"], resp["content"][0]["text"])
    return verdict
