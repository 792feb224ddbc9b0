"""Ingestion: the event contract, the readers of landing files and SQL sources, the collector."""
