"""What a token may do: its scopes, projects and expiry, as macaroon caveats.

A token is a macaroon (pymacaroons): each first-party caveat is one JSON object that
restricts it further, and the chain of signatures means a holder can add caveats (narrow
the token, :func:`narrow`) without the index's help but can never remove one. The index
checks every caveat on every request; one it does not understand refuses the token.

    {"scopes": ["upload"]}              only these actions ("upload", "manage")
    {"projects": ["demo", "other"]}     only these projects (normalized names; no new ones)
    {"expires": 1767225600}             not after this time (seconds since the epoch, UTC)
"""

from __future__ import annotations

import dataclasses
import datetime
import json

from packaging.utils import canonicalize_name

# What a token may be allowed to do. "manage": the management API (yank, delete, tokens)
# and the reports API; "upload": the upload API.
UPLOAD = "upload"
MANAGE = "manage"
SCOPES = (UPLOAD, MANAGE)


class CaveatError(ValueError):
    """A caveat that is malformed or unknown: the token it is on is refused."""


@dataclasses.dataclass(frozen=True)
class Restrictions:
    """The intersection of a token's limits; None means no limit of that kind."""

    scopes: frozenset[str] | None = None
    projects: frozenset[str] | None = None
    expires: datetime.datetime | None = None

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def covers(self, normalized_project_name: str | None) -> bool:
        """None asks about a project that does not exist yet (created by an upload)."""
        if self.projects is None:
            return True
        return normalized_project_name is not None and normalized_project_name in self.projects

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def narrowed_by(self, caveat: str) -> Restrictions:
        """These restrictions and the caveat's: each caveat can only take away."""
        key, value = parse_caveat(caveat)
        if key == "scopes":
            scopes = value if self.scopes is None else self.scopes & value
            return dataclasses.replace(self, scopes=scopes)
        if key == "projects":
            projects = value if self.projects is None else self.projects & value
            return dataclasses.replace(self, projects=projects)
        expires = value if self.expires is None else min(self.expires, value)
        return dataclasses.replace(self, expires=expires)

    def within(self, other: Restrictions) -> bool:
        """Whether these restrictions allow nothing that `other` does not."""
        return (
            (other.scopes is None or (self.scopes is not None and self.scopes <= other.scopes))
            and (
                other.projects is None
                or (self.projects is not None and self.projects <= other.projects)
            )
            and (
                other.expires is None
                or (self.expires is not None and self.expires <= other.expires)
            )
        )

    def describe(self) -> dict:
        return {
            "scopes": [scope for scope in SCOPES if self.allows(scope)],
            "projects": sorted(self.projects) if self.projects is not None else None,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def scopes_caveat(scopes) -> str:
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise CaveatError(f"Scopes are {' and '.join(SCOPES)}; not {', '.join(sorted(unknown))}.")
    return json.dumps({"scopes": sorted(set(scopes))})


def projects_caveat(projects) -> str:
    if not projects:
        raise CaveatError("Name at least one project.")
    return json.dumps({"projects": sorted({canonicalize_name(p) for p in projects})})


def expires_caveat(when: datetime.datetime) -> str:
    return json.dumps({"expires": int(when.timestamp())})


def parse_caveat(caveat: str) -> tuple[str, object]:
    try:
        data = json.loads(caveat)
    except (ValueError, TypeError):
        raise CaveatError("a caveat is not JSON") from None
    if not isinstance(data, dict) or len(data) != 1:
        raise CaveatError("a caveat must be one JSON object with one key")
    ((key, value),) = data.items()
    if key in ("scopes", "projects"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CaveatError(f"the {key} caveat must be a list of names")
        if key == "scopes" and not set(value) <= set(SCOPES):
            raise CaveatError("the scopes caveat names an unknown scope")
        names = value if key == "scopes" else [canonicalize_name(v) for v in value]
        return key, frozenset(names)
    if key == "expires":
        if not isinstance(value, int) or isinstance(value, bool):
            raise CaveatError("the expires caveat must be a number of seconds")
        try:
            return key, datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            raise CaveatError("the expires caveat is out of range") from None
    raise CaveatError(f"unknown caveat {key!r}")
