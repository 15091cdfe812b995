"""Tests of nbdurable.flow.

Concurrency, throttles, rate limits, timeouts, cancel_on, debounce, priority and shared limits, in
one process and across real processes.

Run them alone with ``python -m pytest tests/flow`` (the kernel and crash tests among them with ``-m
"kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the shared
helpers in ``tests/helpers.py``.
"""
