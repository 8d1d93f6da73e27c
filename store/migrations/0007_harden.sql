-- Hardening: occurred_at within plausible bounds, and dashboard sessions that logout ends.
-- depends: 0001_initial

-- CRM placeholders such as 9999-12-31, and BC dates (0001-01-01 at +14:00), broke every
-- report and every read of the item. Unknown is the truthful reading of them: the value
-- is kept in metadata for the record and the reports fall back to received_at.
UPDATE feedback
SET metadata = metadata || jsonb_build_object('occurred_at_refused', occurred_at::text),
    occurred_at = NULL
WHERE occurred_at < '1970-01-01T00:00:00Z' OR occurred_at >= '2100-01-01T00:00:00Z';
ALTER TABLE feedback ADD CONSTRAINT feedback_occurred_at_plausible
    CHECK (occurred_at >= '1970-01-01T00:00:00Z' AND occurred_at < '2100-01-01T00:00:00Z');

-- One row per logged-in dashboard session (the SHA-256 of its token); logging out deletes
-- it, so a copied cookie is worthless afterwards even though its signature still holds.
CREATE TABLE dashboard_sessions (
    token_hash bytea PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
