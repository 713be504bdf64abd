"""Reusable steps robots are built from. ``@step`` makes any function one."""

from robotlib.steps._registry import step

__all__ = ["step"]
