"""The original OpenFinOps observability API (``llm_observability``, ``cost_observatory``), backed by the warehouse:
writes go through the ingest server or ``openfinops.server.store``; reads come from the dbt marts."""

from openfinops.observability.cost_observatory import Budget, CostObservatory
from openfinops.observability.llm_observability import LLMObservabilityHub, LLMTrainingMetrics

__all__ = ["Budget", "CostObservatory", "LLMObservabilityHub", "LLMTrainingMetrics"]
