"""Tests of nbdurable.cli.

Python -m nbdurable (list, show, send, cancel, doctor) in fresh processes.

Run them alone with ``python -m pytest tests/cli`` (the kernel and crash tests among them with ``-m
"kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the shared
helpers in ``tests/helpers.py``.
"""
