"""Notification emails: their links (to act, to unsubscribe) and their text and HTML parts."""
