"""The one settings object of robotlib, read from ``RPA_*`` environment variables.

Load it once at an entry point (a CLI command, a test fixture) and pass it down;
library code never reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Settings of a robotlib installation.

    Example:
        >>> Settings(browser_path=None, headless=True).headless
        True
    """

    model_config = SettingsConfigDict(env_prefix="RPA_", extra="ignore", frozen=True)

    browser_path: Path | None = Field(
        default=None,
        description="A Chrome, Chromium or Edge executable to use; skips the search.",
    )
    headless: bool = Field(default=True, description="Run the browser headless.")
