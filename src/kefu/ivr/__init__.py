"""IVR flows: data (JSON), validated at save time, versioned, run by the call controller."""

from kefu.ivr.rules import FlowDefinition, FlowProblem, validate_flow

__all__ = ["FlowDefinition", "FlowProblem", "validate_flow"]
