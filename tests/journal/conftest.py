"""Tests of nbdurable.journal.

The Journal protocol's behaviour on every backend, and the SQLite file itself (schema, migrations,
durability, permissions).

Run them alone with ``python -m pytest tests/journal`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
