"""The GraphQL schema: types, inputs, payloads, enums, scalars, and the root Schema."""
