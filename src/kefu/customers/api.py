"""HTTP API of the customers domain: masked records, justified views, audited reveals, areas."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from kefu.core.actor import Actor
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, keyset_page
from kefu.customers import actions, queries
from kefu.customers.schemas import (
    AreaCreate,
    AreaOut,
    CustomerCreate,
    CustomerUpdate,
    CustomerView,
    RevealOut,
    RevealRequest,
)
from kefu.tenancy.rules import Permission
from kefu.web.deps import DB, Require

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["customers"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Justification = Annotated[
    Literal["call", "work_order"] | None,
    Query(description="The interaction this access is for: a call or a work order (insider rule R1)."),
]
Reason = Annotated[str | None, Query(max_length=300, description="Why, when no call or work order explains it.")]


def Allowed(permission: Permission) -> object:
    return Depends(Require(permission))


@router.get("/customers", response_model=Page[CustomerView], summary="List or search customers (masked)")
async def list_customers(
    db: DB,
    actor: Actor = Allowed(Permission.CUSTOMERS_READ),
    phone: Annotated[str | None, Query(max_length=32, description="Exact match on any number (screen pop)")] = None,
    id_number: Annotated[str | None, Query(max_length=32)] = None,
    justification_type: Justification = None,
    justification_id: uuid.UUID | None = None,
    reason: Reason = None,
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    rows = await queries.search_customers(
        db,
        actor,
        phone=phone,
        id_number=id_number,
        after=after,
        limit=limit,
        justification_type=justification_type,
        justification_id=justification_id,
        reason=reason,
    )
    return keyset_page(rows, limit, CustomerView)


@router.post(
    "/customers",
    response_model=CustomerView,
    status_code=status.HTTP_201_CREATED,
    summary="Create a customer record (PII encrypted at rest)",
)
async def create_customer(body: CustomerCreate, db: DB, actor: Actor = Allowed(Permission.CUSTOMERS_MANAGE)):
    row = await actions.do_create_customer(db, actor, **body.model_dump())
    return await queries.masked_view(db, row)


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerView,
    summary="Open a customer record (masked; needs a call, a work order or a reason; logged)",
)
async def get_customer(
    customer_id: uuid.UUID,
    db: DB,
    actor: Actor = Allowed(Permission.CUSTOMERS_READ),
    justification_type: Justification = None,
    justification_id: uuid.UUID | None = None,
    reason: Reason = None,
):
    return await queries.view_customer(
        db, actor, customer_id, justification_type=justification_type, justification_id=justification_id, reason=reason
    )


@router.patch("/customers/{customer_id}", response_model=CustomerView, summary="Change a customer record")
async def update_customer(
    customer_id: uuid.UUID, body: CustomerUpdate, db: DB, actor: Actor = Allowed(Permission.CUSTOMERS_MANAGE)
):
    row = await actions.do_update_customer(db, actor, customer_id, body.model_dump(exclude_unset=True))
    return await queries.masked_view(db, row)


@router.post(
    "/customers/{customer_id}/reveal",
    response_model=RevealOut,
    summary="Show masked fields in clear (supervisors; reason required; logged as a reveal)",
)
async def reveal_customer(
    customer_id: uuid.UUID, body: RevealRequest, db: DB, actor: Actor = Allowed(Permission.CUSTOMERS_REVEAL)
):
    shown = await actions.do_reveal_customer(db, actor, customer_id, **body.model_dump())
    return RevealOut(id=customer_id, fields=shown)


@router.get("/areas", response_model=list[AreaOut], summary="Areas (province / city / district / compound)")
async def list_areas(db: DB, actor: Actor = Allowed(Permission.CUSTOMERS_READ)):
    return await queries.list_areas(db, actor)


@router.post("/areas", response_model=AreaOut, status_code=status.HTTP_201_CREATED, summary="Create an area")
async def create_area(body: AreaCreate, db: DB, actor: Actor = Allowed(Permission.SETTINGS_MANAGE)):
    return await actions.do_create_area(db, actor, **body.model_dump())
