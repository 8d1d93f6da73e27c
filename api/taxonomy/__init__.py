"""A tenant's own complaint categories: routes, schemas and service."""
