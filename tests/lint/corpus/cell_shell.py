%%durable shell
# expect: ND331@6, ND331@7
"""Shell escapes and subprocess calls in a durable cell run again on every replay."""
import subprocess

!git pull  # <- ND331
rev = subprocess.check_output(["git", "rev-parse", "HEAD"])  # <- ND331
await step.run("build", build, rev)
