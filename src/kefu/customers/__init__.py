"""Customers domain: records with encrypted PII, blind-index lookup, masking, justified and logged access.

Public surface for other domains (calls' screen pop, work orders):
"""

from kefu.customers.queries import customer_id_by_phone, find_by_phone, masked_view, view_customer
from kefu.customers.schemas import CustomerView

__all__ = ["CustomerView", "customer_id_by_phone", "find_by_phone", "masked_view", "view_customer"]
