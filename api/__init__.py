"""The HTTP API: routers, request/response schemas, auth, metrics and errors."""
