"""Corrections of analyses by people, and the tenant models they train: routes, schemas, service."""
