"""Tests of nbdurable.integrations: Pydantic AI, the OpenAI Agents SDK and LangGraph on nbdurable.

Each framework in process (replay, joins, approvals, streaming) and in a process
killed with SIGKILL mid-request (``kit.py`` holds that rig). Run them alone with
``python -m pytest tests/integrations`` (the crash tests with ``-m crash``). The
shared fixture ``journal_path`` is in ``tests/conftest.py``.
"""
