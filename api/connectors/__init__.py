"""Connectors: feedback pulled from mailboxes and drop folders, tickets in help desks."""
