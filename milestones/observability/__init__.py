"""Operations: Prometheus metrics (``metrics``), JSON logs and the request id (``logs``), the
GraphQL operation observer (``operations``), OpenTelemetry
tracing when configured (``tracing``, imported only then). The request observer is HTTP front:
``milestones.web.request_observer``.
"""
