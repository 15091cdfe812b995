"""The integrations load their framework only when imported, and say which extra installs it when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nbdurable as nd
from nbdurable.integrations import MissingExtraError, require


def test_a_missing_framework_names_the_extra_to_install() -> None:
    with pytest.raises(MissingExtraError, match=r"pip install 'nbdurable\[made-up\]' \(why\)") as info:
        require("nbdurable_no_such_framework", "made-up", note="why")
    assert isinstance(info.value, nd.ConfigError) and isinstance(info.value, ImportError)


def test_importing_nbdurable_loads_no_framework() -> None:
    code = (
        "import sys, nbdurable, nbdurable.integrations\n"
        "loaded = [m for m in ('pydantic_ai', 'agents', 'langgraph') if m in sys.modules]\n"
        "print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
