"""Tenancy domain: tenants, people, roles and permissions, sign-in, sessions, API tokens.

Other domains use only what is exported here.
"""

from kefu.tenancy.access import access_department_by_id, access_user_by_id
from kefu.tenancy.actions import mark_commit_on_error, require, save_settings_section
from kefu.tenancy.models import Department, Tenant, User
from kefu.tenancy.queries import get_tenant, tenant_by_slug
from kefu.tenancy.rules import ROLE_PERMISSIONS, Permission, Role, permissions_for

__all__ = [
    "ROLE_PERMISSIONS",
    "Department",
    "Permission",
    "Role",
    "Tenant",
    "User",
    "access_department_by_id",
    "access_user_by_id",
    "get_tenant",
    "mark_commit_on_error",
    "permissions_for",
    "require",
    "save_settings_section",
    "tenant_by_slug",
]
