"""The one settings object of robotlib.

A robot project is a folder holding ``robots/``, ``schedules/``, ``logs/``,
``credentials.toml`` and ``rpa.toml``. Settings come from, strongest first: the
arguments of :func:`load_settings`, ``RPA_*`` environment variables, the project's
``rpa.toml``, then the defaults below. Load them once at an entry point (a CLI
command, a test fixture) and pass them down; library code never reads the environment.

Example ``rpa.toml``::

    database_url = "postgresql+psycopg://rpa@dbhost/rpa"
    log_retention_days = 90
    cpr_in_logs = "hash"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from robotlib.errors import ConfigurationError

__all__ = ["SETTINGS_FILE", "CprInLogs", "Settings", "load_settings"]

SETTINGS_FILE = "rpa.toml"

CprInLogs = Literal["hash", "mask", "clear"]


class Settings(BaseSettings):
    """Settings of a robot project.

    Example:
        >>> Settings(project_dir=Path("."), headless=True).headless
        True
    """

    model_config = SettingsConfigDict(env_prefix="RPA_", extra="forbid", frozen=True)

    project_dir: Path = Field(
        default=Path("."), description="The robot project folder."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the queue database; default: a SQLite file "
        "in the project's .rpa folder.",
    )
    log_dir: Path | None = Field(
        default=None, description="Where run folders go; default: <project>/logs."
    )
    log_retention_days: int = Field(
        default=90, ge=1, description="Runs older than this are purged."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe level written to the log."
    )
    cpr_in_logs: CprInLogs = Field(
        default="hash",
        description="How CPR numbers appear in logs: 'hash' (a keyed hash, the same "
        "for one number in every log), 'mask' (240512-****) or 'clear' (only for "
        "development with fictitious data).",
    )
    credentials_file: Path | None = Field(
        default=None, description="Default: <project>/credentials.toml."
    )
    use_keyring: bool = Field(
        default=False, description="Also look up passwords in the OS keyring."
    )
    browser_path: Path | None = Field(
        default=None,
        description="A Chrome, Chromium or Edge executable to use; skips the search.",
    )
    headless: bool = Field(default=True, description="Run the browser headless.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the environment; ``load_settings`` adds the file."""
        return init_settings, env_settings

    # Derived places ---------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """The project's private folder: the SQLite queue and the log hashing key."""
        return self.project_dir / ".rpa"

    @property
    def database(self) -> str:
        """The queue database URL, with the SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'robotlib.db').as_posix()}"

    @property
    def logs(self) -> Path:
        """The folder of run logs."""
        return self.log_dir if self.log_dir is not None else self.project_dir / "logs"

    @property
    def credentials_path(self) -> Path:
        """The credentials file."""
        if self.credentials_file is not None:
            return self.credentials_file
        return self.project_dir / "credentials.toml"

    @property
    def robots_dir(self) -> Path:
        """The folder of the project's robots."""
        return self.project_dir / "robots"


def load_settings(project_dir: Path | None = None, **overrides: Any) -> Settings:
    """Load a project's settings: arguments, ``RPA_*`` variables, then ``rpa.toml``.

    Args:
        project_dir: the project folder; default ``RPA_PROJECT_DIR`` or the current
            folder.
        overrides: settings that win over every other source.

    Raises:
        ConfigurationError: ``rpa.toml`` or a variable holds an invalid setting.

    Example:
        >>> load_settings(Path("."), cpr_in_logs="mask").cpr_in_logs
        'mask'
    """

    class ProjectSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            folder = project_dir or Path(env_settings().get("project_dir") or ".")
            toml = TomlConfigSettingsSource(
                settings_cls, toml_file=folder / SETTINGS_FILE
            )
            return init_settings, env_settings, toml

    if project_dir is not None:
        overrides.setdefault("project_dir", project_dir)
    try:
        loaded = ProjectSettings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, project_dir)) from None
    return Settings.model_validate(loaded.model_dump())


def _describe(exc: ValidationError, project_dir: Path | None) -> str:
    where = (project_dir or Path(".")) / SETTINGS_FILE
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors()
    )
    return f"invalid settings (from {where} or RPA_* variables): {problems}"
