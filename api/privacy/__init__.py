"""Personal data requests: erasure of a data subject, and retention per tenant (/v1/privacy)."""
