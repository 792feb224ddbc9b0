"""Statistics on sufficient statistics and series; no store, no SQLAlchemy (docs/statistics.md)."""
