"""The original OpenFinOps observability API (``llm_observability``, ``cost_observatory``), backed by the warehouse:
writes go through the ingest server or ``openfinops.server.store``; reads come from the dbt marts."""
