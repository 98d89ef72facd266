"""Traces: reading a trace store (Jaeger's query API) and judging what the traces show."""
