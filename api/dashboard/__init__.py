"""The analyst dashboard: server-rendered pages under /dashboard, behind an API-key login."""
