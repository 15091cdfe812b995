"""Tests of nbdurable.otel.

Spans per run and step, and a trace continued across a SIGKILL (OTLP to a collector on loopback).

Run them alone with ``python -m pytest tests/otel`` (the kernel and crash tests among them with ``-m
"kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the shared
helpers in ``tests/helpers.py``.
"""
