"""cairn testbed: a simulated DNS tree (NSD) inside a private network namespace.

Used by scripts/testbed (the command line) and tests/integration/conftest.py (pytest).
Standard library + dnspython only.
"""
from .core import (  # noqa: F401
    Testbed, TestbedError, enter_netns, DEFAULT_NAME, default_state_dir,
)
