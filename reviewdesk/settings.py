"""Environment variables read by Reviewdesk, in one place."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG = Path("reviewdesk.toml")


def config_path(explicit: Path | None = None) -> Path:
    """The config file: --config, else $REVIEWDESK_CONFIG, else ./reviewdesk.toml."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get("REVIEWDESK_CONFIG", str(DEFAULT_CONFIG)))


def database_override() -> Path | None:
    """$REVIEWDESK_DB overrides the database path in the config (handy for tests and one-offs)."""
    value = os.environ.get("REVIEWDESK_DB")
    return Path(value) if value else None


def lock_timeout_override() -> float | None:
    """$REVIEWDESK_LOCK_TIMEOUT: seconds to wait for another process's database write."""
    value = os.environ.get("REVIEWDESK_LOCK_TIMEOUT")
    return float(value) if value else None


def acting_user(explicit: str | None = None) -> str:
    """The CLI identity: --as, else $REVIEWDESK_USER, else the OS user name."""
    import getpass

    if explicit:
        return explicit
    from_env = os.environ.get("REVIEWDESK_USER")
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def quiet_prefect() -> None:
    """Flows run from the CLI use Prefect's temporary local API: keep its chatter to warnings, no telemetry."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # air-gapped: no calls home
