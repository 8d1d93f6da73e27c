"""Postgres: the migrations and every query. The only place SQL lives."""
