"""Form parsing and validation for the account pages.

Each form reads its fields from ``request.POST`` as stripped strings (passwords as typed),
collects one message per field in ``errors`` and never echoes passwords back.
"""

from __future__ import annotations

import datetime

from warehouse.accounts.passwords import password_problem
from warehouse.accounts.services import EMAIL_RE, MAX_EMAIL_LENGTH, AccountError
from warehouse.db import utcnow
from warehouse.tokens.caveats import SCOPES

MAX_NAME_LENGTH = 100
MAX_TOKEN_DESCRIPTION_LENGTH = 100
# Offered on the token page; "" means the token does not expire.
TOKEN_EXPIRY_CHOICES = (
    ("", "No expiry"),
    ("1", "1 day"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
)


class Form:
    fields: tuple[str, ...] = ()
    # Fields whose values are used as typed (not stripped) and never rendered back.
    secret_fields: tuple[str, ...] = ()

    def __init__(self, post=None):
        post = post or {}
        self.data: dict[str, str] = {}
        for name in self.fields:
            value = post.get(name, "")
            value = value if isinstance(value, str) else ""
            self.data[name] = value if name in self.secret_fields else value.strip()
        self.errors: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        return self.data.get(name, "")

    def value(self, name: str) -> str:
        """What the template may show back in the field."""
        return "" if name in self.secret_fields else self.data.get(name, "")

    def add_error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    @property
    def valid(self) -> bool:
        return not self.errors

    def require(self, *names: str, message: str = "This field is required.") -> None:
        for name in names:
            if not self.data.get(name):
                self.add_error(name, message)

    def check_new_password(self, *, username: str, user_inputs: tuple[str, ...] = ()) -> None:
        password, confirm = self["new_password"], self["password_confirm"]
        if not password:
            self.add_error("new_password", "Choose a password.")
            return
        problem = password_problem(password, username=username, user_inputs=user_inputs)
        if problem:
            self.add_error("new_password", problem)
        elif password != confirm:
            self.add_error("password_confirm", "The two passwords are not the same.")


class LoginForm(Form):
    fields = ("username", "password")
    secret_fields = ("password",)

    def validate(self) -> bool:
        self.require("username", "password")
        return self.valid


class RegistrationForm(Form):
    fields = ("username", "full_name", "email", "new_password", "password_confirm")
    secret_fields = ("new_password", "password_confirm")

    def validate(self, users) -> bool:
        self.require("username", "email")
        if self["username"]:
            try:
                users.check_new_username(self["username"])
            except AccountError as exc:
                self.add_error("username", str(exc))
        if len(self["full_name"]) > MAX_NAME_LENGTH:
            self.add_error("full_name", f"Use at most {MAX_NAME_LENGTH} characters.")
        email = self["email"]
        if email:
            if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email):
                self.add_error("email", "Enter a valid email address.")
            elif users.find_email(email) is not None:
                self.add_error("email", "This email address is already in use. Log in instead?")
        self.check_new_password(
            username=self["username"], user_inputs=(self["email"], self["full_name"])
        )
        return self.valid


class ChangePasswordForm(Form):
    fields = ("password", "new_password", "password_confirm")
    secret_fields = fields

    def validate(self, users, user) -> bool:
        if not self["password"] or not users.check_password(user, self["password"]):
            self.add_error("password", "Your current password is not right.")
        self.check_new_password(
            username=user.username,
            user_inputs=(user.name, *(e.email for e in user.emails)),
        )
        if not self.errors and self["new_password"] == self["password"]:
            self.add_error("new_password", "Choose a password different from the current one.")
        return self.valid


class ResetPasswordForm(Form):
    fields = ("token", "new_password", "password_confirm")
    secret_fields = ("new_password", "password_confirm")

    def validate(self, user) -> bool:
        self.check_new_password(
            username=user.username, user_inputs=(user.name, *(e.email for e in user.emails))
        )
        return self.valid


class TokenForm(Form):
    fields = ("description", "scope", "expires_in_days")

    def __init__(self, post=None, *, available_projects: list[str] = ()):
        super().__init__(post)
        self.available_projects = list(available_projects)
        self.projects: list[str] = list(post.getall("projects")) if post is not None else []
        # What the token may do; a new form offers both.
        self.permissions: list[str] = (
            list(post.getall("permissions")) if post is not None else list(SCOPES)
        )

    def validate(self) -> bool:
        self.require("description", message="Name the token, to recognise it later.")
        if len(self["description"]) > MAX_TOKEN_DESCRIPTION_LENGTH:
            self.add_error("description", f"Use at most {MAX_TOKEN_DESCRIPTION_LENGTH} characters.")
        if self["scope"] not in ("user", "projects"):
            self.add_error("scope", "Choose what the token may upload to.")
        elif self["scope"] == "projects":
            if not self.projects:
                self.add_error("projects", "Choose at least one project.")
            elif not set(self.projects) <= set(self.available_projects):
                self.add_error("projects", "You can only choose projects you maintain.")
        if not self.permissions or not set(self.permissions) <= set(SCOPES):
            self.add_error("permissions", "Choose what the token may do: upload, manage, or both.")
        if self["expires_in_days"] not in {value for value, _ in TOKEN_EXPIRY_CHOICES}:
            self.add_error("expires_in_days", "Choose one of the offered expiry times.")
        return self.valid

    @property
    def chosen_projects(self) -> list[str] | None:
        return self.projects if self["scope"] == "projects" else None

    @property
    def expires(self) -> datetime.datetime | None:
        days = self["expires_in_days"]
        return utcnow() + datetime.timedelta(days=int(days)) if days else None
