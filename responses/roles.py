"""Roles of the approval workflow and what each may do; enforced by `responses.service.ReplyService`."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role; each includes everything the ones before it may do."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    """A kind of action, named for error messages."""

    READ = "read the inbox, drafts, escalations, audit and SLA"
    EDIT = "edit or propose reply text"
    DECIDE = "approve or reject drafts and resolve escalations"
    MANAGE_USERS = "manage users"


ROLES: tuple[Role, ...] = tuple(Role)

# Roles are cumulative, so one minimum role per permission says it all.
MINIMUM_ROLE: dict[Permission, Role] = {
    Permission.READ: Role.VIEWER,
    Permission.EDIT: Role.RESPONDER,
    Permission.DECIDE: Role.APPROVER,
    Permission.MANAGE_USERS: Role.ADMIN,
}


def parse_role(value: str) -> Role:
    """A role from its name; ValueError naming the valid roles otherwise."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {value!r}: expected one of {', '.join(ROLES)}") from None


def allows(role: Role, permission: Permission) -> bool:
    """Whether a user with ``role`` may do ``permission``."""
    return ROLES.index(role) >= ROLES.index(MINIMUM_ROLE[permission])
