"""Workflows: what one strategy run does with its device(s), as registered plugins.

Built in: `stream` (adapt on a stream) and `active_learning` (the host labels
what the device is least sure of). See docs/architecture.md to add one.
"""

from __future__ import annotations

from hil_service.workflows.base import PlanMismatch, RunStopped, Workflow, WorkflowContext
from hil_service.workflows.registry import UnknownWorkflow, get, register, registered, unregister

__all__ = ["PlanMismatch", "RunStopped", "UnknownWorkflow", "Workflow", "WorkflowContext", "get",
           "register", "registered", "unregister"]
