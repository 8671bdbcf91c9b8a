"""The workflow's rules: one function per user action, each in one database transaction.

Knows nothing of GraphQL: it takes typed commands (`commands.py`), runs each action through
one runner (`acting.py`: lock, role, idempotency, validation, then the action's rules and
change), returns an `Outcome` of models, refuses with `DomainError`.
"""
