"""The approval workflow: the one place that enforces roles and draft state transitions.

The CLI uses it now and the web app will later, so no rule lives in a front end. Each method runs short
store transactions; nothing is held open while a person edits text or the verifier runs. Writes are
therefore guarded by the draft's ``updated_at`` as read before: a change by someone else in between is
reported as a conflict, never silently overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.store import Connection, Store
from responses.roles import MINIMUM_ROLE, Permission, Role, allows, parse_role

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
BOOTSTRAP_HINT = "create the first admin with `reviewdesk users add NAME --role admin`"


class WorkflowError(Exception):
    """A refused request, phrased for the person who made it."""


class NotFound(WorkflowError):
    """No draft, escalation or user with that id or name."""


class InvalidInput(WorkflowError):
    """The request itself is wrong (empty reason, unknown variant, bad role or user name)."""


class PermissionDenied(WorkflowError):
    """The acting user may not do this (unknown, disabled, or a role too low)."""


class SetupRequired(PermissionDenied):
    """No users exist yet, so nobody may change anything until the first admin is added."""


class InvalidState(WorkflowError):
    """The draft or escalation is in a state that does not allow this (or its review changed)."""


class Conflict(InvalidState):
    """Someone else changed the draft between reading it and this write."""


class TextRefused(WorkflowError):
    """The reply text is empty or fails the reply checks."""

    def __init__(self, message: str, problems: Sequence[str]) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class TextContext:
    """What an edited reply is checked against: its draft, review and business."""

    draft_id: int
    business_id: str
    source: str
    platform: str
    kind: str
    language: str
    review_text: str
    author_name: str | None


# Returns the problems of a reply text, an empty list when it may be posted.
TextCheck = Callable[[str, TextContext], Sequence[str]]


@dataclass(frozen=True)
class Choice:
    """The text an approval or edit settles on, and the variant it is based on."""

    variant: int
    proposed_text: str
    final_text: str
    edited: bool
    proposal_used: bool


@dataclass(frozen=True)
class EditStart:
    """Text to open in an editor, with the draft version it was read from."""

    draft_id: int
    variant: int
    text: str
    updated_at: datetime


def verifier_check(config: Any, config_file: Path) -> TextCheck:
    """The reply verifier (`responses.verify.verify_text`) with each business's playbook and reply limit."""
    playbooks: dict[str, Any] = {}

    def check(text: str, ctx: TextContext) -> list[str]:
        # Imported and loaded on first use: reading commands never need playbooks or language models.
        from responses.draft import limit_for
        from responses.stage import _source_targets, playbooks_for
        from responses.verify import VerifyContext, verify_text

        if not playbooks:
            playbooks.update(playbooks_for(config, config_file))
        playbook = playbooks.get(ctx.business_id)
        if playbook is None:
            return [f"business {ctx.business_id!r} has no reply playbook in the config"]
        platform, override = _source_targets(config).get(ctx.source, (ctx.platform, None))
        return verify_text(
            text,
            VerifyContext(
                kind=ctx.kind,
                language=ctx.language,
                playbook=playbook,
                max_chars=limit_for(platform, override),
                review_text=f"{ctx.author_name or ''}\n{ctx.review_text}",
            ),
        )

    return check


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "?"


def _hours(delta_seconds: float) -> float:
    return delta_seconds / 3600


class ReplyService:
    """Approve, edit and reject drafts, resolve escalations, manage users; read the inbox, audit and SLA."""

    def __init__(
        self,
        store: Store,
        actor: str,
        *,
        sla_hours: float = 24,
        check: TextCheck | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.actor = actor
        self.sla_hours = sla_hours
        self._check = check
        self._clock = clock

    # -- identity ----------------------------------------------------------------------------

    def _authorize(self, tx: Connection, permission: Permission) -> str:
        """The acting user's name if they may do ``permission``; PermissionDenied otherwise."""
        if tx.user_count() == 0:
            # A fresh install: anyone may look, nobody may change anything until an admin exists.
            if permission is Permission.READ:
                return self.actor
            raise SetupRequired(f"no Reviewdesk users exist yet: {BOOTSTRAP_HINT}")
        user = tx.user(self.actor)
        if user is None:
            raise PermissionDenied(
                f"{self.actor!r} is not a Reviewdesk user: an admin can add it with "
                f"`reviewdesk users add {self.actor} --role viewer` (or pick a user with --as)"
            )
        if user["disabled"]:
            raise PermissionDenied(f"user {self.actor!r} is disabled")
        role = Role(user["role"])
        if not allows(role, permission):
            article = "an" if role.value[0] in "aeiou" else "a"
            raise PermissionDenied(
                f"{self.actor} is {article} {role}: to {permission} you need the {MINIMUM_ROLE[permission]} role "
                "or higher"
            )
        return self.actor

    # -- drafts: reading ---------------------------------------------------------------------

    def inbox(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Pending drafts, riskiest first, with age, time left to the SLA deadline and an overdue flag."""
        now = self._clock()
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            rows = tx.pending_drafts(self.sla_hours, limit)
        for row in rows:
            row["age_hours"] = _hours((now - row["review_published_at"]).total_seconds())
            row["hours_left"] = _hours((row["deadline"] - now).total_seconds())
            row["overdue"] = row["hours_left"] < 0
            # The greeting alone ("Dear Ann,") says nothing, so the preview runs on past line breaks.
            row["preview"] = " ".join((row["first_variant_text"] or "").split())
        return rows

    def show(self, draft_id: int) -> dict[str, Any]:
        """A draft with its review, latest analysis, variants, escalations and audit history."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            draft = self._draft(tx, draft_id)
            variants = tx.draft_variants(draft_id)
            analysis = tx.latest_analysis(draft["review_id"])
            escalations = tx.escalations_of_review(draft["review_id"])
            history = tx.audit_entries("draft", draft_id)
            successor = tx.newest_draft_of_review(draft["review_id"])
        for v in variants:
            v["problems"] = _json(v["problems"]) or []
        if analysis is not None:
            for key in ("sentiment_scores", "sentences", "topics", "severity"):
                analysis[key] = _json(analysis[key])
            analysis["current"] = analysis["content_hash"] == draft["review_content_hash"]
        for e in escalations:
            e["flags"] = _json(e["flags"])
        for entry in history:
            entry["detail"] = _json(entry["detail"])
        draft["flags"] = _json(draft["flags"])
        return {
            "draft": draft,
            "variants": variants,
            "analysis": analysis,
            "escalations": escalations,
            "history": history,
            "stale": self._stale_reason(draft),
            "successor": successor["id"] if successor and successor["id"] != draft_id else None,
        }

    def editable_text(self, draft_id: int, variant: int | None = None, *, for_approval: bool) -> EditStart:
        """The text to start editing from (a proposed edit, else the variant), checked to be editable now."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.DECIDE if for_approval else Permission.EDIT)
            draft = self._changeable(tx, draft_id, "approve" if for_approval else "edit", None)
            choice = self._choose(draft, tx.draft_variants(draft_id), variant, None)
        return EditStart(draft_id, choice.variant, choice.final_text, draft["updated_at"])

    # -- drafts: transitions -----------------------------------------------------------------

    def approve(
        self,
        draft_id: int,
        *,
        variant: int | None = None,
        text: str | None = None,
        expected_updated_at: datetime | None = None,
    ) -> dict[str, Any]:
        """pending → approved with a chosen variant, optionally edited (edited text is checked first).

        Without a variant or text, a proposed edit is approved as proposed; failing that, the first variant.
        """
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.DECIDE)
            draft = self._changeable(tx, draft_id, "approve", expected_updated_at)
            choice = self._choose(draft, tx.draft_variants(draft_id), variant, text)
        if choice.edited:
            self._verify(choice.final_text, draft)
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.DECIDE)
            self._changeable(tx, draft_id, "approve", draft["updated_at"])
            ok = tx.approve_draft(
                draft_id,
                expected_updated_at=draft["updated_at"],
                chosen_variant=choice.variant,
                proposed_text=choice.proposed_text,
                final_text=choice.final_text,
                actor=actor,
                now=now,
            )
            assert ok, "checked under the same lock just before"
            detail: dict[str, Any] = {"review_id": draft["review_id"], "variant": choice.variant,
                                      "edited": choice.edited}
            if draft["final_text"] is not None:
                detail["proposed_edit_used"] = choice.proposal_used
            tx.add_audit(actor=actor, action="approve", entity="draft", entity_id=draft_id, at=now,
                         from_state="pending", to_state="approved", detail=detail)
        return {"id": draft_id, "state": "approved", "variant": choice.variant, "edited": choice.edited,
                "final_text": choice.final_text, "approved_by": actor, "approved_at": now}

    def propose_edit(
        self,
        draft_id: int,
        text: str,
        *,
        variant: int | None = None,
        expected_updated_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Save an edited text on a pending draft for an approver to decide on; the draft stays pending."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.EDIT)
            draft = self._changeable(tx, draft_id, "edit", expected_updated_at)
            choice = self._choose(draft, tx.draft_variants(draft_id), variant, text)
        if not choice.edited:
            raise InvalidInput(f"the text is the same as variant {choice.variant}: nothing to propose")
        self._verify(choice.final_text, draft)
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.EDIT)
            self._changeable(tx, draft_id, "edit", draft["updated_at"])
            ok = tx.save_draft_edit(
                draft_id,
                expected_updated_at=draft["updated_at"],
                chosen_variant=choice.variant,
                proposed_text=choice.proposed_text,
                final_text=choice.final_text,
                now=now,
            )
            assert ok, "checked under the same lock just before"
            tx.add_audit(actor=actor, action="edit", entity="draft", entity_id=draft_id, at=now,
                         from_state="pending", to_state="pending",
                         detail={"review_id": draft["review_id"], "variant": choice.variant, "edited": True})
        return {"id": draft_id, "state": "pending", "variant": choice.variant, "final_text": choice.final_text}

    def reject(self, draft_id: int, reason: str, *, expected_updated_at: datetime | None = None) -> dict[str, Any]:
        """pending → rejected; a non-empty reason is required."""
        reason = reason.strip()
        if not reason:
            raise InvalidInput("a reason is required to reject a draft")
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.DECIDE)
            # A draft of a removed or edited review may still be rejected: that decides nothing unsafe.
            draft = self._changeable(tx, draft_id, "reject", expected_updated_at)
            ok = tx.reject_draft(draft_id, expected_updated_at=draft["updated_at"], reason=reason, now=now)
            assert ok, "checked under the same lock just before"
            tx.add_audit(actor=actor, action="reject", entity="draft", entity_id=draft_id, at=now,
                         from_state="pending", to_state="rejected",
                         detail={"review_id": draft["review_id"], "reason": reason})
        return {"id": draft_id, "state": "rejected", "reason": reason}

    # -- drafts: rules -----------------------------------------------------------------------

    @staticmethod
    def _draft(tx: Connection, draft_id: int) -> dict[str, Any]:
        draft = tx.draft(draft_id)
        if draft is None:
            raise NotFound(f"no draft #{draft_id}")
        return draft

    @staticmethod
    def _stale_reason(draft: dict[str, Any]) -> str | None:
        """Why the review no longer matches the draft, or None when it does."""
        if draft["review_removed_at"] is not None:
            return f"the review was removed from {draft['source']} ({_when(draft['review_removed_at'])})"
        if draft["review_content_hash"] != draft["content_hash"]:
            if draft["review_reply_text"] is not None:
                return "the review has been answered on the platform since this draft was written"
            return "the review was edited after this draft was written (a new draft follows for the new text)"
        return None

    def _changeable(
        self, tx: Connection, draft_id: int, action: str, expected_updated_at: datetime | None
    ) -> dict[str, Any]:
        """The draft if ``action`` is allowed on it now; InvalidState saying why not otherwise."""
        draft = self._draft(tx, draft_id)
        state = draft["state"]
        if state != "pending":
            raise InvalidState(f"cannot {action} draft #{draft_id}: {self._state_reason(tx, draft)}")
        if action != "reject":
            stale = self._stale_reason(draft)
            if stale:
                raise InvalidState(f"cannot {action} draft #{draft_id}: {stale}")
        if expected_updated_at is not None and draft["updated_at"] != expected_updated_at:
            last = tx.audit_entries("draft", draft_id)[-1:]
            by = f" by {last[0]['actor']} ({last[0]['action']})" if last else ""
            raise Conflict(
                f"draft #{draft_id} was changed{by} at {_when(draft['updated_at'])} while you were working on it; "
                f"look at it again (`reviewdesk show {draft_id}`)"
            )
        return draft

    @staticmethod
    def _state_reason(tx: Connection, draft: dict[str, Any]) -> str:
        state = draft["state"]
        if state == "approved":
            return f"it is already approved (by {draft['approved_by']}, {_when(draft['approved_at'])})"
        if state in ("queued", "published", "failed"):
            return f"it was approved by {draft['approved_by']} and is {state} now"
        if state == "rejected":
            return f"it was rejected ({draft['reject_reason']})"
        if state == "blocked":
            flags = _json(draft.get("flags")) or {}
            why = flags.get("by_hand") or flags.get("no_reply")
            if why:
                return f"there is no draft text: {why}"
            return "no variant passed the reply checks, so there is no safe text to start from"
        if state == "superseded":
            newest = tx.newest_draft_of_review(draft["review_id"])
            later = f"; the current draft is #{newest['id']}" if newest and newest["id"] != draft["id"] else ""
            return f"it was superseded because the review changed{later}"
        return f"it is {state}"

    @staticmethod
    def _choose(
        draft: dict[str, Any], variants: list[dict[str, Any]], variant: int | None, text: str | None
    ) -> Choice:
        """Settle which variant and which text an approval or edit means (see `approve`)."""
        passed = {v["variant"]: v for v in variants if v["passed"]}
        if not passed:
            raise InvalidState(f"draft #{draft['id']} has no variant that passed the reply checks")
        proposal = draft["final_text"]
        if variant is not None:
            if variant not in passed:
                failed = next((v for v in variants if v["variant"] == variant), None)
                if failed is not None:
                    problems = "; ".join(_json(failed["problems"]) or [])
                    raise InvalidInput(
                        f"variant {variant} of draft #{draft['id']} failed the reply checks ({problems}) "
                        "and cannot be chosen"
                    )
                raise InvalidInput(
                    f"draft #{draft['id']} has no variant {variant}; choose one of "
                    f"{', '.join(str(n) for n in sorted(passed))}"
                )
            base = variant
        elif proposal is not None and draft["chosen_variant"] in passed:
            base = draft["chosen_variant"]
        else:
            base = min(passed)
        proposal_used = text is None and variant is None and proposal is not None
        if text is not None:
            final = text.replace("\r\n", "\n").strip()
        elif proposal_used:
            final = proposal
        else:
            final = passed[base]["text"]
        if not final.strip():
            raise TextRefused("the reply text is empty", ["empty text"])
        original = passed[base]["text"]
        return Choice(base, original, final, final != original, proposal_used)

    def _verify(self, text: str, draft: dict[str, Any]) -> None:
        """Run the reply checks on an edited text; TextRefused listing the problems if any."""
        if self._check is None:
            # Fail closed: an unchecked edit could promise what the playbook does not allow.
            raise TextRefused("edited text cannot be checked: no reply verifier is configured", ["not checked"])
        ctx = TextContext(
            draft_id=draft["id"], business_id=draft["business_id"], source=draft["source"],
            platform=draft["platform"], kind=draft["kind"], language=draft["language"],
            review_text=draft["review_text"] or "", author_name=draft["author_name"],
        )
        problems = list(self._check(text, ctx))
        if problems:
            raise TextRefused(f"the edited text fails the reply checks: {'; '.join(problems)}", problems)

    # -- escalations -------------------------------------------------------------------------

    def escalations(self) -> list[dict[str, Any]]:
        """Open escalations (reviews with severity flags that a person must answer), oldest first."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            rows = tx.open_escalations()
        for row in rows:
            row["flags"] = _json(row["flags"])
        return rows

    def resolve_escalation(self, escalation_id: int, note: str) -> dict[str, Any]:
        """open → resolved with a note saying what was done."""
        note = note.strip()
        if not note:
            raise InvalidInput("a note is required to resolve an escalation (what was done about it)")
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.DECIDE)
            escalation = tx.escalation(escalation_id)
            if escalation is None:
                raise NotFound(f"no escalation #{escalation_id}")
            if not tx.resolve_escalation(escalation_id, actor=actor, note=note, now=now):
                raise InvalidState(
                    f"escalation #{escalation_id} is already {escalation['state']} "
                    f"(by {escalation['resolved_by']}, {_when(escalation['resolved_at'])})"
                )
            tx.add_audit(actor=actor, action="resolve", entity="escalation", entity_id=escalation_id, at=now,
                         from_state="open", to_state="resolved",
                         detail={"review_id": escalation["review_id"], "note": note})
        return {"id": escalation_id, "state": "resolved", "note": note}

    # -- audit and SLA -----------------------------------------------------------------------

    def audit(self, draft_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Audit entries of one draft (all of them), or the newest ``limit`` entries overall; oldest first."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            if draft_id is not None:
                self._draft(tx, draft_id)
                rows = tx.audit_entries("draft", draft_id)
            else:
                rows = tx.audit_tail(limit)
        for row in rows:
            row["detail"] = _json(row["detail"]) or {}
        return rows

    def sla(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Response-time figures and overdue counts per business and per source (see `ResponsesSQL.sla_figures`)."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            return tx.sla_figures(sla_hours=self.sla_hours, now=self._clock(), since=since)

    # -- users -------------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        """Every user with role and status."""
        with self.store.transaction() as tx:
            self._authorize(tx, Permission.READ)
            return tx.users()

    def add_user(self, name: str, role: str) -> dict[str, Any]:
        """Create a user; while there are none, anyone may add the first one, and it must be an admin."""
        new_role = self._role(role)
        if not _USER_NAME.match(name):
            raise InvalidInput(
                f"bad user name {name!r}: use up to 64 letters, digits and . _ @ -, starting with a letter or digit"
            )
        now = self._clock()
        with self.store.transaction() as tx:
            if tx.user_count() == 0:
                if new_role is not Role.ADMIN:
                    raise InvalidInput(f"the first user must be an admin so that someone can manage users: "
                                       f"{BOOTSTRAP_HINT}")
                actor = self.actor
            else:
                actor = self._authorize(tx, Permission.MANAGE_USERS)
            existing = tx.user(name)
            if existing is not None:
                raise InvalidInput(f"user {name!r} already exists ({existing['role']}); use `users set-role`")
            tx.insert_user(name, new_role.value, now)
            tx.add_audit(actor=actor, action="user_add", entity="user", entity_id=None, at=now,
                         to_state=new_role, detail={"name": name, "role": str(new_role)})
            return self._user(tx, name)

    def set_role(self, name: str, role: str) -> dict[str, Any]:
        """Change a user's role (the last active admin cannot be demoted)."""
        new_role = self._role(role)
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.MANAGE_USERS)
            user = self._user(tx, name)
            if user["role"] == new_role:
                return user
            if user["role"] == Role.ADMIN and tx.active_admins() == [name]:
                raise InvalidState(f"{name} is the only active admin: make someone else admin first")
            tx.update_user(name, role=new_role.value)
            tx.add_audit(actor=actor, action="user_role", entity="user", entity_id=None, at=now,
                         from_state=user["role"], to_state=new_role, detail={"name": name})
            return self._user(tx, name)

    def set_disabled(self, name: str, disabled: bool) -> dict[str, Any]:
        """Disable or re-enable a user (the last active admin cannot be disabled)."""
        now = self._clock()
        with self.store.transaction() as tx:
            actor = self._authorize(tx, Permission.MANAGE_USERS)
            user = self._user(tx, name)
            if user["disabled"] == disabled:
                return user
            if disabled and tx.active_admins() == [name]:
                raise InvalidState(f"{name} is the only active admin: make someone else admin first")
            tx.update_user(name, disabled=disabled)
            states = ("active", "disabled")
            tx.add_audit(actor=actor, action="user_disable" if disabled else "user_enable", entity="user",
                         entity_id=None, at=now, from_state=states[not disabled], to_state=states[disabled],
                         detail={"name": name})
            return self._user(tx, name)

    @staticmethod
    def _role(value: str) -> Role:
        try:
            return parse_role(value)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    @staticmethod
    def _user(tx: Connection, name: str) -> dict[str, Any]:
        user = tx.user(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user
