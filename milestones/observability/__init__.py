"""Operations: Prometheus metrics (``metrics``), JSON logs and the request id (``logs``), the
GraphQL operation observer (``operations``). The request observer is HTTP front:
``milestones.web.request_observer``.
"""
