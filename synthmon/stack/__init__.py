"""Stack backends: one Service description, several runners."""

from synthmon.stack.stack import Stack, open_stack

__all__ = ["Stack", "open_stack"]
