"""milestones: a GraphQL API for the milestone workflow of freelance contracts."""

__version__ = "0.1.0"
