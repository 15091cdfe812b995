"""Tests of nbdurable.analysis.

Runs and steps as pandas frames, and two runs compared.

Run them alone with ``python -m pytest tests/analysis`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
