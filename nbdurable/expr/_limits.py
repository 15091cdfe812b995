"""Fixed limits of the expression language: nesting, depth and the int64 range."""

from __future__ import annotations

# Each bracket level costs about ten Python frames in the parser; a node about two
# when building and evaluating. These limits keep both far below the default
# recursion limit (1000), also when called from an already deep stack.
MAX_NESTING = 32
MAX_DEPTH = 120
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
