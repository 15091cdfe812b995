"""Fault injection: real processes, real files, real faults (see each test module's docstring)."""
