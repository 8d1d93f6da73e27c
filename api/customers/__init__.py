"""Customers and what they do: interactions, profiles, churn risk, the NPS loop lists."""
