-- Customers, closing the loop: the surveys suggested to customers (survey.suggested), kept
-- so a tenant's per-customer frequency cap holds across batches and workers.
-- depends: 0006_customers

CREATE TABLE survey_suggestions (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ref text NOT NULL,
    interaction_id uuid NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
    survey text NOT NULL,
    channel text NOT NULL,
    suggested_at timestamptz NOT NULL DEFAULT now(),
    -- One suggestion per interaction, whatever retries happen.
    UNIQUE (tenant_id, interaction_id)
);
-- The cap reads a customer's latest suggestion.
CREATE INDEX survey_suggestions_ref ON survey_suggestions (tenant_id, ref, suggested_at DESC);

-- The dashboard's loop-list trends: who entered each segment lately.
CREATE INDEX customer_segment_history_changed ON customer_segment_history (tenant_id, changed_at);
