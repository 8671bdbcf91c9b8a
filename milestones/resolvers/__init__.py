"""Thin resolvers: read the viewer and arguments, call the domain, map the result."""
