"""Tests of nbdurable.timeline.

The snapshot of a run (live, finished or from the journal) and its static HTML and text rendering.

Run them alone with ``python -m pytest tests/timeline`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
