"""Environment variables of the models subsystem, read here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path


def model_cache_dir() -> Path:
    """Where converted checkpoints live: $REVIEWDESK_MODEL_DIR, else ~/.cache/reviewdesk/models."""
    value = os.environ.get("REVIEWDESK_MODEL_DIR")
    return Path(value) if value else Path.home() / ".cache" / "reviewdesk" / "models"


def encoder_override() -> str | None:
    """$REVIEWDESK_ENCODER: a local checkpoint directory or a hub model id (online users only)."""
    return os.environ.get("REVIEWDESK_ENCODER") or None


def data_dir() -> Path:
    """Labelled data for training and evaluation: $REVIEWDESK_DATA, else ../shared/data."""
    return Path(os.environ.get("REVIEWDESK_DATA", "../shared/data"))
