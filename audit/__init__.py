"""The audit trail: who did or read what, when, with what result; hash-chained and checkpointed outside the
database so that any change to it is found (`python cli.py verify-audit`, `GET /audit/verify`)."""
