"""Fixtures shared by the expression-language tests (nbdurable.expr)."""
