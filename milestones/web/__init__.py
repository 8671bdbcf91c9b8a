"""The HTTP front: the /graphql view, GraphQL over HTTP, the contract-room cache and page, and the
request observer (request ids, access log, HTTP metrics)."""
