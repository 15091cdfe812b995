"""A function's options are one frozen, checked object (``fn.options``), whatever way they are given."""

from __future__ import annotations

import dataclasses

import pytest

import nbdurable as nd


async def body(ctx: nd.Context) -> int:
    return 1


def test_the_keywords_become_one_frozen_object_that_the_function_reads_through() -> None:
    fn = nd.Function(body, id="fo-one", trigger="fo/go", retries=2, concurrency=nd.Concurrency(limit=2), lint="off")
    assert fn.options == nd.FunctionOptions(
        triggers=("fo/go",), retries=2, concurrency=(nd.Concurrency(limit=2),), lint="off"
    )
    assert (fn.retries, fn.triggers, fn.concurrency, fn.queue) == (2, ("fo/go",), (nd.Concurrency(limit=2),), "default")
    assert fn.has_flow_control and not nd.Function(body, id="fo-plain", lint="off").has_flow_control
    with pytest.raises(dataclasses.FrozenInstanceError):
        fn.options.retries = 5  # type: ignore[misc]


def test_with_options_copies_and_checks_again() -> None:
    fn = nd.Function(
        body, id="fo-copy", trigger=["fo/a", "fo/b"], retries=1, timeouts=nd.Timeouts(finish="1h"), lint="off"
    )
    copy = fn.with_options(retries=4, queue="gpu")
    assert (copy.id, copy.func, copy.retries, copy.queue) == ("fo-copy", body, 4, "gpu")
    assert copy.triggers == ("fo/a", "fo/b") and copy.timeouts == nd.Timeouts(finish="1h")
    assert fn.retries == 1 and fn.queue == "default", "the original is unchanged"
    with pytest.raises(nd.ConfigError, match=r"@nd.function\(id='fo-copy'\): retries must be an integer >= 0"):
        fn.with_options(retries=-1)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"retries": True}, "retries must be an integer >= 0, got True"),
        ({"determinism": "loose"}, "determinism must be 'warn', 'strict' or 'off', got 'loose'"),
        ({"on_change": "skip"}, "on_change must be 'warn', 'rerun' or 'error'"),
        ({"lint": "loud"}, "lint must be 'warn', 'off' or 'error'"),
        ({"trigger": ["ok", ""]}, "each trigger must be an event name, got ''"),
        ({"concurrency": [nd.Concurrency(limit=1), 3]}, r"concurrency= takes nd.Concurrency\(...\)"),
        ({"cancel_on": "x"}, r"cancel_on= takes nd.CancelOn\(...\) or a list of them"),
        ({"throttle": nd.RateLimit(limit=1, period="1s")}, r"throttle= takes nd.Throttle\(...\)"),
        ({"on": "there"}, "on= is 'here' .* or 'workers'"),
        ({"queue": " "}, "queue must be a non-empty name"),
        ({"queue": "\ud800"}, "queue must be a non-empty name"),
        ({"debounce": nd.Debounce("1s"), "batch_events": nd.BatchEvents(max_size=2, timeout="1s")}, "choose one"),
        ({"retriez": 1}, "takes no option retriez"),
    ],
)
def test_a_bad_option_names_the_function_the_option_and_the_fix(given: dict[str, object], said: str) -> None:
    with pytest.raises(nd.ConfigError, match=r"@nd.function\(id='fo-bad'\)(: )?.*" + said):
        nd.function(id="fo-bad", **given)(body)  # type: ignore[arg-type]


def test_options_and_keywords_do_not_mix() -> None:
    with pytest.raises(nd.ConfigError, match="not both"):
        nd.Function(body, id="fo-mix", options=nd.FunctionOptions(), retries=1)
    assert nd.Function(body, id="fo-given", options=nd.FunctionOptions(lint="off", retries=0)).retries == 0
    with pytest.raises(nd.ConfigError, match=r"@nd.function\(id='fo-given'\): queue must be a non-empty name"):
        nd.Function(body, id="fo-given", options=nd.FunctionOptions(lint="off", queue=""))
