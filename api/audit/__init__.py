"""The audit log: a middleware records every change; GET /v1/audit and its CSV export read it."""
