"""Tests of nbdurable.ai and nbdurable.agent.

Model handles, the HTTP call against the scripted LLM server, response reading, prices, the agent
loop and its durable resume.

Run them alone with ``python -m pytest tests/ai`` (the kernel and crash tests among them with ``-m
"kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the shared
helpers in ``tests/helpers.py``.
"""
