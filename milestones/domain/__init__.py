"""The workflow's rules: one function per user action, each in one database transaction.

Knows nothing of GraphQL: it takes plain values, returns models, raises DomainError.
"""
