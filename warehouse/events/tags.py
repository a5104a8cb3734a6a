"""Event tags: ``<area>:<object>:<action>``. Add new ones here so they stay greppable."""

from __future__ import annotations


class AccountTag:
    CREATED = "account:create"
    LOGIN_SUCCESS = "account:login:success"
    LOGIN_FAILURE = "account:login:failure"
    LOGOUT = "account:logout"
    PASSWORD_CHANGE = "account:password:change"
    PASSWORD_RESET_REQUEST = "account:password:reset:request"
    PASSWORD_RESET = "account:password:reset"
    TWO_FACTOR_ADDED = "account:two_factor:method_added"
    TWO_FACTOR_REMOVED = "account:two_factor:method_removed"
    RECOVERY_CODES_GENERATED = "account:recovery_codes:generated"
    RECOVERY_CODE_USED = "account:recovery_codes:used"
    EMAIL_ADDED = "account:email:add"
    EMAIL_REMOVED = "account:email:remove"
    EMAIL_VERIFIED = "account:email:verified"
    EMAIL_PRIMARY_CHANGED = "account:email:primary:change"
    API_TOKEN_ADDED = "account:api_token:added"
    API_TOKEN_REMOVED = "account:api_token:removed"
    DELETED = "account:delete"


class ProjectTag:
    """For the project area; extend as project management grows."""

    CREATED = "project:create"
    ROLE_ADDED = "project:role:add"
    ROLE_REMOVED = "project:role:remove"
    ROLE_CHANGED = "project:role:change"
    RELEASE_YANKED = "project:release:yank"
    RELEASE_UNYANKED = "project:release:unyank"
    RELEASE_REMOVED = "project:release:remove"
    FILE_REMOVED = "project:file:remove"
    DELETED = "project:delete"


# What the account's security history shows for each tag; unknown tags show as they are.
DESCRIPTIONS = {
    AccountTag.CREATED: "Account created",
    AccountTag.LOGIN_SUCCESS: "Logged in",
    AccountTag.LOGIN_FAILURE: "Failed login",
    AccountTag.LOGOUT: "Logged out",
    AccountTag.PASSWORD_CHANGE: "Password changed",
    AccountTag.PASSWORD_RESET_REQUEST: "Password reset requested",
    AccountTag.PASSWORD_RESET: "Password reset",
    AccountTag.TWO_FACTOR_ADDED: "Two-factor method added",
    AccountTag.TWO_FACTOR_REMOVED: "Two-factor method removed",
    AccountTag.RECOVERY_CODES_GENERATED: "Recovery codes generated",
    AccountTag.RECOVERY_CODE_USED: "Recovery code used",
    AccountTag.EMAIL_ADDED: "Email address added",
    AccountTag.EMAIL_REMOVED: "Email address removed",
    AccountTag.EMAIL_VERIFIED: "Email address verified",
    AccountTag.EMAIL_PRIMARY_CHANGED: "Primary email address changed",
    AccountTag.API_TOKEN_ADDED: "API token created",
    AccountTag.API_TOKEN_REMOVED: "API token revoked",
    AccountTag.DELETED: "Account deleted",
}


def describe(tag: str) -> str:
    return DESCRIPTIONS.get(tag, tag)
