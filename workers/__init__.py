"""Celery app and tasks: the glue between store and nlp, event delivery and sweeps."""
