"""Complaint work orders: lifecycle, dispatch, SLA, refund authority, follow-up and KPIs.

Public surface for other domains:

* ``open_orders_for_customer(session, actor, customer_id, limit)`` — the agent desktop's screen pop;
* ``order_concerns_customer(session, actor, order_id, customer_id)`` — does this order justify opening
  that customer record (customers' access checks);
* ``do_create_work_order`` — what a call hand-off uses to accept a complaint.
* incidents (``kefu.alerts``): the master order's lifecycle (``do_dispatch_work_order``, ``do_take_work_order``,
  ``do_resume_work_order``, ``do_reply_work_order``), ``do_link_work_orders`` (members), ``do_comment_work_order``,
  the members' follow-up (``do_start_follow_up_notified``, SMS replies through ``handle_follow_up_reply``);
  rows read by id: ``WorkOrder``, ``Category``, ``OPEN_STATUSES``.
"""

from kefu.workorders.actions import (
    do_comment_work_order,
    do_create_work_order,
    do_dispatch_work_order,
    do_link_work_orders,
    do_reply_work_order,
    do_resume_work_order,
    do_start_follow_up_notified,
    do_take_work_order,
)
from kefu.workorders.followup import handle_follow_up_reply
from kefu.workorders.models import Category, WorkOrder
from kefu.workorders.queries import open_orders_for_customer, order_concerns_customer
from kefu.workorders.rules import OPEN_STATUSES

__all__ = [
    "OPEN_STATUSES",
    "Category",
    "WorkOrder",
    "do_comment_work_order",
    "do_create_work_order",
    "do_dispatch_work_order",
    "do_link_work_orders",
    "do_reply_work_order",
    "do_resume_work_order",
    "do_start_follow_up_notified",
    "do_take_work_order",
    "handle_follow_up_reply",
    "open_orders_for_customer",
    "order_concerns_customer",
]
