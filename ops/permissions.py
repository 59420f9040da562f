"""Roles and the permission matrix (pure). See docs/security.md."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    BED_MANAGER = "bed_manager"
    SITE_LEAD = "site_lead"
    INCIDENT_COMMANDER = "incident_commander"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Permission(StrEnum):
    VIEW = "view"
    ACK_ALERT = "ack_alert"  # acknowledge / silence alerts
    DECLARE_PROTOCOL = "declare_protocol"
    WORK_PROTOCOL = "work_protocol"  # tick actions, assign roles, log entries
    STAND_DOWN = "stand_down"
    EDIT_CONFIG = "edit_config"  # rules, templates, display profiles
    MANAGE_USERS = "manage_users"  # users and display tokens
    SET_SCENARIO = "set_scenario"  # demo simulator scenario
    VIEW_FEEDS = "view_feeds"  # the feeds page (health of the data feeds)
    # replay / discard quarantined messages, see their raw originals (audited)
    MANAGE_FEEDS = "manage_feeds"
    IMPORT_DATA = "import_data"  # CSV imports: upload, preview, confirm (audited)


_ALL = frozenset(Permission)
MATRIX: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.BED_MANAGER: frozenset(
        {
            Permission.VIEW,
            Permission.ACK_ALERT,
            Permission.WORK_PROTOCOL,
            Permission.VIEW_FEEDS,
            Permission.IMPORT_DATA,
        }
    ),
    Role.SITE_LEAD: frozenset(
        {
            Permission.VIEW,
            Permission.ACK_ALERT,
            Permission.DECLARE_PROTOCOL,
            Permission.WORK_PROTOCOL,
            Permission.STAND_DOWN,
            Permission.SET_SCENARIO,
        }
    ),
    Role.INCIDENT_COMMANDER: frozenset(
        {
            Permission.VIEW,
            Permission.ACK_ALERT,
            Permission.DECLARE_PROTOCOL,
            Permission.WORK_PROTOCOL,
            Permission.STAND_DOWN,
            Permission.SET_SCENARIO,
        }
    ),
    Role.ADMIN: _ALL,
}


def allowed(role: str | Role | None, permission: Permission) -> bool:
    if role is None:
        return False
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False
