"""Tests of nbdurable.testing.

The scripted LLM server users test their own workflows with.

Run them alone with ``python -m pytest tests/testing`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
