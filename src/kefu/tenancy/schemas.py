"""API shapes of the tenancy domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, EmailStr, Field, field_validator

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


class LoginRequest(Input):
    model_config = _examples({"username": "zhangwei", "password": "correct horse battery"})

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="Required when the account has TOTP on."
    )


class UserOut(Output):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    department_id: uuid.UUID | None
    is_active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    totp_enabled: bool
    created_at: datetime


class MeOut(UserOut):
    permissions: list[str]
    tenant_slug: str
    tenant_name: str


class LoginResponse(Output):
    user: UserOut
    csrf_token: str = Field(description="Send as X-CSRF-Token on state-changing requests made with the session cookie.")
    expires_at: datetime


class UserCreate(Input):
    model_config = _examples(
        {"username": "lina", "display_name": "李娜", "password": "longer pass phrase", "roles": ["agent"]}
    )

    username: str = Field(min_length=3, max_length=64)
    display_name: str = Field(min_length=1, max_length=100)
    email: EmailStr | None = None
    password: str = Field(min_length=1, max_length=256)
    roles: list[str] = Field(min_length=1, max_length=6)
    department_id: uuid.UUID | None = None

    @field_validator("username")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class UserUpdate(Input):
    model_config = _examples({"display_name": "李娜 (班长)", "roles": ["agent", "supervisor"]})

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = None
    roles: list[str] | None = Field(default=None, min_length=1, max_length=6)
    department_id: uuid.UUID | None = None


class PasswordReset(Input):
    model_config = _examples({"new_password": "a new long pass phrase"})

    new_password: str = Field(min_length=1, max_length=256)


class PasswordChange(Input):
    model_config = _examples({"current_password": "old pass phrase", "new_password": "a new long pass phrase"})

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class DepartmentOut(Output):
    id: uuid.UUID
    name: str
    code: str | None
    kind: str
    parent_id: uuid.UUID | None
    description: str
    created_at: datetime


class DepartmentCreate(Input):
    model_config = _examples({"name": "网络部", "code": "NET", "kind": "department"})

    name: str = Field(min_length=1, max_length=100)
    code: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    kind: str = Field(default="department", pattern=r"^(department|team)$")
    parent_id: uuid.UUID | None = None
    description: str = Field(default="", max_length=500)


class DepartmentUpdate(Input):
    model_config = _examples({"description": "负责基站与室分故障"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    code: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    parent_id: uuid.UUID | None = None
    description: str | None = Field(default=None, max_length=500)


class ApiTokenCreate(Input):
    model_config = _examples({"name": "crm-sync", "scopes": ["users.read"], "expires_in_days": 90})

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=64)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenOut(Output):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The secret. Shown only in this response; store it now.")


class TotpSetupOut(Output):
    secret: str
    otpauth_uri: str


class TotpCode(Input):
    model_config = _examples({"code": "123456"})

    code: str = Field(pattern=r"^\d{6}$")


class TotpDisable(Input):
    model_config = _examples({"password": "my pass phrase"})

    password: str = Field(min_length=1, max_length=256)


class TenantSettingsOut(Output):
    slug: str
    name: str
    timezone: str
    locale: str


class TenantSettingsUpdate(Input):
    model_config = _examples({"name": "示例通信公司", "timezone": "Asia/Shanghai", "locale": "zh_CN"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, pattern=r"^(zh_CN|en)$")


class RoleOut(Output):
    name: str
    permissions: list[str]


class TenantCreate(Input):
    model_config = _examples(
        {"slug": "acme", "name": "Acme Telecom", "admin_username": "admin", "admin_password": "long admin pass phrase"}
    )

    slug: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    locale: str = Field(default="zh_CN", pattern=r"^(zh_CN|en)$")
    admin_username: str = Field(min_length=3, max_length=64)
    admin_password: str = Field(min_length=1, max_length=256)


class TenantOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    locale: str
    is_active: bool
    created_at: datetime


class OperatorLogin(Input):
    model_config = _examples({"username": "ops", "password": "operator pass phrase"})

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
