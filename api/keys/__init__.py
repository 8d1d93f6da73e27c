"""Scoped API keys: the admin API (/v1/keys)."""
