"""Stack backends: one Service description, several runners."""

from synthmon.stack.running import Stack
from synthmon.stack.stack import open_stack

__all__ = ["Stack", "open_stack"]
