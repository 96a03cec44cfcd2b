"""Manual sources: nothing is posted by Reviewdesk; a person copies the reply and runs `mark-posted`."""

from __future__ import annotations

from typing import NoReturn

from responses.publish.connectors.base import Connector, ExistingReply, PostTarget


class ManualConnector(Connector):
    """Copy-ready replies for platforms without an API we post through."""

    name = "manual"
    label = "manual posting"
    limit = None
    automatic = False

    def existing_reply(self, target: PostTarget) -> ExistingReply | None:  # pragma: no cover - never called
        """Manual rows are never checked automatically."""
        return None

    def post_reply(self, target: PostTarget, text: str) -> NoReturn:  # pragma: no cover - never called
        """Manual rows are never posted automatically."""
        raise RuntimeError("manual replies are posted by a person (reviewdesk copy / mark-posted)")
