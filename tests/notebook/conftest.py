"""Tests of nbdurable.notebook.

%load_ext, %%durable cells, the live timeline widget and the static timeline in real kernels, and
the example notebooks run through a kernel kill.

Run them alone with ``python -m pytest tests/notebook`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""
