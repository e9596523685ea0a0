"""HTTP API for platform operators: sign-in and tenant lifecycle (above tenants)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from kefu.tenancy import actions, queries
from kefu.tenancy.schemas import OperatorLogin, TenantCreate, TenantOut
from kefu.web.deps import DB, CurrentOperator, client_ip, get_context

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])


@router.post("/auth/login", status_code=status.HTTP_204_NO_CONTENT, summary="Operator sign-in")
async def operator_login(body: OperatorLogin, request: Request, response: Response, db: DB) -> None:
    _operator, token = await actions.do_operator_login(
        db,
        username=body.username,
        password=body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    settings = get_context(request).settings
    response.set_cookie(
        "kefu_operator", token, httponly=True, samesite="strict", secure=settings.cookie_secure, path="/api/v1/platform"
    )


@router.get("/tenants", response_model=list[TenantOut], summary="List organisations")
async def list_tenants(db: DB, operator: CurrentOperator):
    return await queries.list_tenants(db)


@router.post(
    "/tenants",
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an organisation and its first administrator",
)
async def create_tenant(body: TenantCreate, db: DB, operator: CurrentOperator):
    tenant, _admin = await actions.do_create_tenant(db, operator, **body.model_dump())
    return tenant


@router.post("/tenants/{tenant_id}/suspend", response_model=TenantOut, summary="Suspend an organisation")
async def suspend_tenant(tenant_id: uuid.UUID, db: DB, operator: CurrentOperator):
    return await actions.do_set_tenant_active(db, operator, tenant_id, False)


@router.post("/tenants/{tenant_id}/resume", response_model=TenantOut, summary="Resume an organisation")
async def resume_tenant(tenant_id: uuid.UUID, db: DB, operator: CurrentOperator):
    return await actions.do_set_tenant_active(db, operator, tenant_id, True)
