# expect: ND341@13, ND341@14, ND341@15, ND341@16
"""Asking a person for input outside a step: a replay asks again and may get another answer."""
import getpass
import sys

import click

import nbdurable as nd


@nd.function(id="ask-human", trigger="go")
async def ask_human(ctx):
    choice = input("Approve? [y/N] ")  # <- ND341
    token = getpass.getpass("Token: ")  # <- ND341
    note = sys.stdin.readline()  # <- ND341
    level = click.prompt("Level", type=int)  # <- ND341
    if choice.lower() == "y":
        await ctx.step.run("apply", apply, token, note, level)


def apply(*args):
    return args
