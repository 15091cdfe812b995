# expect: none
"""Lists and dicts keep their order: pop(), list(dict), join of a list, tuple(list) are all fine."""
import nbdurable as nd


@nd.function(id="lists", trigger="go")
async def lists(ctx):
    step = ctx.step
    queue = list(ctx.event.data["queue"])
    names = list(ctx.event.data["by_name"])
    while queue:
        job = queue.pop()
        await step.run(f"job-{job}", run_job, job)
    label = ", ".join(names)
    return await step.run("done", finish, label, tuple(names))


def run_job(job):
    return job


def finish(label, names):
    return label, names
