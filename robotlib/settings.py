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

    [notify]                      # who hears of a scheduled run that needs attention
    command = ["/usr/local/bin/page-oncall", "--team", "rpa"]
    smtp_host = "smtp.region.dk"
    smtp_port = 587
    smtp_starttls = true
    smtp_from = "rpa@region.dk"
    smtp_to = ["rpa-team@region.dk"]
    business_exception_threshold = 10

    [robots]                      # what every robot has unless it says otherwise
    retry = { attempts = 3, backoff_s = [2, 10] }
    stop_after_system_errors = 5

A nested setting has a variable with ``__`` between the levels:
``RPA_NOTIFY__SMTP_HOST=smtp.region.dk``; a list is written as JSON:
``RPA_NOTIFY__SMTP_TO='["rpa-team@region.dk"]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from robotlib.errors import ConfigurationError
from robotlib.locales import HOSPITAL_TIME_ZONE, check_locale, check_time_zone
from robotlib.robot import RetryPolicy
from robotlib.validation import field_problem, field_problems

__all__ = [
    "DISPLAY_TZ",
    "SETTINGS_FILE",
    "ConsoleSettings",
    "CprInLogs",
    "NotifySettings",
    "OidcSettings",
    "RobotDefaults",
    "Settings",
    "load_settings",
]

SETTINGS_FILE = "rpa.toml"
#: The zone times are shown to people in (the hospital's): the CLI, the console,
#: the run report and the robots' Excel reports.
DISPLAY_TZ = ZoneInfo(HOSPITAL_TIME_ZONE)

CprInLogs = Literal["hash", "mask", "clear"]


class NotifySettings(BaseModel):
    """Who hears of a scheduled run that needs attention: the ``[notify]`` table.

    A run needs attention when it stops on system exceptions, ends with more
    failed items than ``failed_item_threshold`` or more business exceptions than
    ``business_exception_threshold``, misses its deadline
    or fails its preflight. Each configured notifier hears of it: ``command`` and
    e-mail (``smtp_host``). The SMTP password comes from the credentials, system
    ``smtp``.

    Example:
        >>> NotifySettings(command=["page-oncall"]).command_timeout_s
        30.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="A command (program and arguments, no shell) to run for each "
        "notification; it gets the notification as JSON on stdin.",
    )
    command_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the command may take."
    )
    smtp_host: str | None = Field(
        default=None, description="The SMTP server; e-mail is sent only when set."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Its port.")
    smtp_from: str | None = Field(default=None, description="The sender address.")
    smtp_to: list[str] = Field(default=[], description="The recipient addresses.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the connection with STARTTLS (port 587)."
    )
    smtp_ssl: bool = Field(
        default=False, description="Connect over TLS from the start (port 465)."
    )
    smtp_username: str | None = Field(
        default=None,
        description="Log in as this user; default: the username of the credentials "
        "system 'smtp', if any. No login without a username.",
    )
    smtp_timeout_s: float = Field(
        default=30.0, gt=0, description="How long to wait for the SMTP server."
    )
    business_exception_threshold: int = Field(
        default=0,
        ge=0,
        description="A run with more business exceptions than this needs attention.",
    )
    failed_item_threshold: int = Field(
        default=0,
        ge=0,
        description="A run with more failed items than this needs attention: it "
        "ends completed_with_failures and `rpa run` exits 3.",
    )
    deadline_warning_minutes: int = Field(
        default=60,
        ge=0,
        description="An item not done this many minutes before its deadline "
        "(Robot(deadline=...)) is told once, by the active scheduler; 0: never.",
    )

    @model_validator(mode="after")
    def _check_smtp(self) -> NotifySettings:
        if self.smtp_host is not None:
            missing = [
                name
                for name, value in (
                    ("smtp_from", self.smtp_from),
                    ("smtp_to", self.smtp_to),
                )
                if not value
            ]
            if missing:
                raise PydanticCustomError(
                    "notify_smtp",
                    "smtp_host is set, so e-mail also needs {missing}",
                    {"missing": " and ".join(missing)},
                )
        if self.smtp_starttls and self.smtp_ssl:
            raise PydanticCustomError(
                "notify_smtp",
                "smtp_starttls and smtp_ssl exclude each other: use smtp_ssl for "
                "port 465, smtp_starttls for port 587",
            )
        return self


class OidcSettings(BaseModel):
    """Single sign-on to the console by OpenID Connect: ``[console.oidc]``.

    The client secret is never here: it is the ``password`` of the credentials
    system ``credentials_system`` (``[oidc]`` in ``credentials.toml``, or
    ``RPA_CRED_OIDC_PASSWORD``). A user gets the highest role that any value of
    their ``role_claim`` maps to in ``roles``; a user whose values map to none is
    refused.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(
        description="The provider's issuer URL; its discovery document is "
        "<issuer>/.well-known/openid-configuration."
    )
    client_id: str = Field(description="The console's client ID at the provider.")
    credentials_system: str = Field(
        default="oidc",
        description="The credentials system whose password is the client secret.",
    )
    scopes: list[str] = Field(
        default=["openid", "profile"], description="The scopes asked for."
    )
    role_claim: str = Field(
        default="groups",
        description="The ID token claim (a string or a list) that gives the role.",
    )
    roles: dict[str, Literal["viewer", "operator", "admin"]] = Field(
        default={},
        description="Claim value -> console role; the highest found wins.",
    )
    name_claim: str = Field(
        default="preferred_username",
        description="The claim used as the console user name (fallback: sub).",
    )
    label: str = Field(
        default="single sign-on",
        description='The login page\'s button reads "Sign in with <label>".',
    )
    redirect_url: str | None = Field(
        default=None,
        description="The callback URL registered at the provider; default: "
        "<the console's URL>/login/oidc/callback as the browser reaches it.",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of each request to the provider."
    )

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise PydanticCustomError(
                "oidc_scopes", "scopes must include openid (OpenID Connect needs it)"
            )
        return value


class ConsoleSettings(BaseModel):
    """The operator console: the ``[console]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    oidc: OidcSettings | None = Field(
        default=None,
        description="Single sign-on by OpenID Connect: the [console.oidc] table; "
        "none: local users only.",
    )
    metrics_credentials: str | None = Field(
        default=None,
        description="The credentials system whose password is the bearer token a "
        "Prometheus scraper sends to /metrics; none: only signed-in users read it.",
    )


class RobotDefaults(BaseModel):
    """The project's defaults for its robots: the ``[robots]`` table.

    A robot that sets a field itself keeps its own; unset, the field is the
    project's here, else robotlib's default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    retry: RetryPolicy | None = Field(
        default=None,
        description="Attempts and backoff after system exceptions, e.g. "
        "{ attempts = 3, backoff_s = [2, 10] }.",
    )
    stop_after_system_errors: int | None = Field(
        default=None,
        ge=0,
        description="Stop a run after this many system exceptions in a row.",
    )


class Settings(BaseSettings):
    """Settings of a robot project.

    Example:
        >>> Settings(project_dir=Path("."), headless=True).headless
        True
    """

    model_config = SettingsConfigDict(
        env_prefix="RPA_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

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
        default=90,
        ge=1,
        description="Runs older than this are purged by `rpa purge` (its default "
        "age; schedule it, e.g. daily from cron): run folders, runs and finished "
        "items.",
    )
    trace_retention_days: int = Field(
        default=14,
        ge=1,
        description="Playwright traces (*.zip in run folders: screenshots, page "
        "snapshots and typed values, CPR numbers and names in clear) older than "
        "this are deleted by `rpa purge`, even from run folders it keeps.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe level written to the log."
    )
    cpr_in_logs: CprInLogs = Field(
        default="hash",
        description="How CPR numbers appear in logs: 'hash' (a keyed hash, the same "
        "for one number in every log), 'mask' (240512-****) or 'clear' (only for "
        "development with fictitious data). Run reports (report.xlsx) show them "
        "masked (240512-****) unless this is 'clear'.",
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
    headless: bool = Field(
        default=True,
        description="Run the browser headless; false shows it (rpa run --headed), "
        "whatever the robots' own BrowserOptions say.",
    )
    browser_slowmo_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        description="Slow every browser action down by this many milliseconds, to "
        "watch a robot work (rpa run --slowmo).",
    )
    browser_trace: Literal["retries", "always", "off"] | None = Field(
        default=None,
        description="Which attempts record a Playwright trace, for every robot "
        "(rpa run --trace); none: each robot's BrowserOptions.trace.",
    )
    pause_on_failure: Literal["off", "pdb", "inspector"] = Field(
        default="off",
        description="At a system exception, before the screenshots and the "
        "restart: 'pdb' opens the debugger where it was raised, 'inspector' the "
        "Playwright Inspector on the page (rpa run --pause-on-failure).",
    )
    keep_traces: bool = Field(
        default=False,
        description="Save the trace of every attempt that recorded one, not only "
        "of those that ended in a system exception (rpa run --trace always).",
    )
    locale: str = Field(
        default="da",
        description="How numbers and dates in input files' text cells are written "
        "(a Babel locale: 'da', 'da_DK', 'en_US'); a source or column can say "
        "otherwise.",
    )
    time_zone: str = Field(
        default=HOSPITAL_TIME_ZONE,
        description="The project's time zone: a time with an offset in an input "
        "file becomes this zone's wall-clock time in a field without one.",
    )
    input_stable_s: float = Field(
        default=30.0,
        ge=0,
        description="A scheduled run reads its input file only once its size and "
        "modification time have not changed for this many seconds (a file still "
        "being copied is not read half).",
    )
    console_url: str | None = Field(
        default=None,
        description="The console's address as people open it, e.g. "
        "https://rpa.example.org; used for links in notifications.",
    )
    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="Who hears of a scheduled run that needs attention: the "
        "[notify] table, or RPA_NOTIFY__<SETTING> variables.",
    )
    robots: RobotDefaults = Field(
        default_factory=RobotDefaults,
        description="Defaults for every robot of the project: the [robots] table.",
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings,
        description="The operator console: the [console] table (single sign-on "
        "in [console.oidc]).",
    )

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        return check_locale(value)

    @field_validator("time_zone")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        return check_time_zone(value)

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
    except SettingsError as exc:  # a nested setting's variable is not valid JSON
        raise ConfigurationError(
            f"invalid settings (from RPA_* variables): {exc}; a list is written as "
            """JSON, e.g. RPA_NOTIFY__SMTP_TO='["rpa@region.dk"]'"""
        ) from None
    return Settings.model_validate(loaded.model_dump())


def _describe(exc: ValidationError, project_dir: Path | None) -> str:
    where = (project_dir or Path(".")) / SETTINGS_FILE
    problems = "; ".join(field_problem(*p) for p in field_problems(exc))
    return f"invalid settings (from {where} or RPA_* variables): {problems}"
