"""Complaint work orders: lifecycle, dispatch, SLA, refund authority, follow-up and KPIs.

Public surface for other domains:

* ``open_orders_for_customer(session, actor, customer_id, limit)`` — the agent desktop's screen pop;
* ``order_concerns_customer(session, actor, order_id, customer_id)`` — does this order justify opening
  that customer record (customers' access checks);
* ``do_create_work_order`` — what a call hand-off uses to accept a complaint.
"""

from kefu.workorders.actions import do_create_work_order
from kefu.workorders.queries import open_orders_for_customer, order_concerns_customer

__all__ = ["do_create_work_order", "open_orders_for_customer", "order_concerns_customer"]
