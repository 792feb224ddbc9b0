"""The AITL store: engine creation, transactions and migrations."""

from aitl.store.database import connect, transaction, upgrade

__all__ = ["connect", "transaction", "upgrade"]
