"""Signed webhooks: endpoint addresses (SSRF rules), the delivery outbox's sender."""
