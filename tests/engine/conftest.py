"""Tests of nbdurable.engine.

Runs (start, claim, resume, finish, cancel, fork), run handles, events, values to journal text and
back, runtime determinism checks, and runs killed with SIGKILL.

Run them alone with ``python -m pytest tests/engine`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
