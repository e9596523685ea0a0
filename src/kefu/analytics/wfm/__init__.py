"""Workforce management: queueing models and staffing."""
