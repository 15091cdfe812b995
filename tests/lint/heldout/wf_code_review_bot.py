"""Review a pull request: diff it locally, ask the model per file, post comments."""

import subprocess
from collections import defaultdict

import nbdurable as nd
from anthropic import Anthropic

claude = Anthropic()
REVIEWED: set[str] = set()


def changed_files(repo: str, base: str, head: str) -> list[str]:
    out = subprocess.run(["git", "-C", repo, "diff", "--name-only", f"{base}...{head}"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.endswith(".py")]


def file_diff(repo: str, base: str, head: str, path: str) -> str:
    return subprocess.run(["git", "-C", repo, "diff", f"{base}...{head}", "--", path],
                          capture_output=True, text=True, check=True).stdout


def post_comment(pr: int, path: str, body: str) -> None:
    import requests

    requests.post(f"http://forge.local/api/pulls/{pr}/comments", json={"path": path, "body": body}, timeout=10)


@nd.function(id="review", trigger="pr/opened")
async def review(ctx: nd.Context) -> dict:
    pr = ctx.event.data
    files = await ctx.step.run("files", changed_files, pr["repo"], pr["base"], pr["head"])
    head_sha = subprocess.check_output(["git", "-C", pr["repo"], "rev-parse", pr["head"]], text=True).strip()  # <- ND331
    by_dir = defaultdict(list)
    for path in files:
        by_dir[path.rsplit("/", 1)[0] if "/" in path else "."].append(path)
    comments = 0
    for directory, paths in sorted(by_dir.items()):
        for path in paths:
            if path in REVIEWED:
                continue
            diff = await ctx.step.run(f"diff:{path}", file_diff, pr["repo"], pr["base"], pr["head"], path)
            msg = await ctx.step.ai.wrap(
                f"review:{path}",
                claude.messages.create,
                model="claude-sonnet-4-5",
                max_tokens=800,
                messages=[{"role": "user", "content": f"Review this diff of {path} at {head_sha[:7]}:\n{diff}"}],
            )
            await ctx.step.run(f"comment:{path}", post_comment, pr["number"], path, msg.content[0].text)
            REVIEWED.add(path)  # <- ND602
            comments += 1
    return {"comments": comments, "dirs": len(by_dir)}
