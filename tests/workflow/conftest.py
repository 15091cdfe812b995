"""Tests of nbdurable.workflow.

Nd.function, the step API (run, retries, sleeps, waits, invoke, values), step.ai, nd.join_or_start
and the memory a run keeps per step.

Run them alone with ``python -m pytest tests/workflow`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
