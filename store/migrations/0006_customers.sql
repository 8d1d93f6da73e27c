-- Customers: what they do (interactions), a profile per customer built from their feedback and
-- interactions, its churn risk and NPS segment, the segment history, per-tenant customer
-- settings, and recovery cases in the complaint inbox.
-- depends: 0003_complaints

-- What customers do: orders, deliveries, support contacts, app sessions, cancellations,
-- survey invitations and answers. Idempotent on (tenant, source, external_id) like feedback.
CREATE TABLE interactions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source text NOT NULL,
    external_id text,
    customer_ref text NOT NULL,
    type text NOT NULL CHECK (type IN ('order', 'delivery', 'support_contact', 'app_session',
        'cancellation', 'survey_sent', 'survey_answered')),
    occurred_at timestamptz NOT NULL,
    value real,
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source, external_id)
);
CREATE INDEX interactions_customer ON interactions (tenant_id, customer_ref, occurred_at);
CREATE INDEX interactions_tenant_occurred ON interactions (tenant_id, occurred_at);

-- Profiles read a customer's feedback by reference.
-- feedback (tenant_id, customer_ref) is indexed by 0005 (erasure by customer_ref).

-- One profile per (tenant, customer_ref). The aggregate columns are recomputed from the rows
-- (feedback with its analysis, interactions) whenever they change, so they can be checked
-- against them at any time (store.customers.reconcile). ``dirty`` marks a profile whose
-- interactions arrived but whose refresh has not run yet.
CREATE TABLE customers (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ref text NOT NULL,
    dirty boolean NOT NULL DEFAULT true,
    first_contact_at timestamptz,
    last_contact_at timestamptz,
    last_feedback_at timestamptz,
    feedback_count integer NOT NULL DEFAULT 0,
    negative_count integer NOT NULL DEFAULT 0,
    channels text[] NOT NULL DEFAULT '{}',
    csat_inferred real,
    csat_inferred_sd real,
    csat_real real,
    nps_real smallint,
    interaction_count integer NOT NULL DEFAULT 0,
    order_count integer NOT NULL DEFAULT 0,
    revenue double precision NOT NULL DEFAULT 0,
    complaint_count integer NOT NULL DEFAULT 0,
    cancelled_at timestamptz,
    -- What the scorer concluded (workers.customers), at scored_at.
    risk_score real,
    risk_band text CHECK (risk_band IN ('low', 'medium', 'high')),
    risk_reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
    csat_trend real,
    segment text CHECK (segment IN ('detractor', 'passive', 'promoter')),
    segment_source text CHECK (segment_source IN ('survey', 'feedback', 'behaviour')),
    scored_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ref)
);
CREATE INDEX customers_risk ON customers (tenant_id, risk_score DESC NULLS LAST, ref);
CREATE INDEX customers_dirty ON customers (tenant_id) WHERE dirty;

-- Every segment change, oldest first: the customer page's segment history.
CREATE TABLE customer_segment_history (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ref text NOT NULL,
    segment text,
    previous text,
    source text,
    risk_score real,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_segment_history_ref ON customer_segment_history (tenant_id, ref, id);

-- Per-tenant customer settings (recovery policy, survey sampling); defaults live in code.
CREATE TABLE customer_settings (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    settings jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A customer-level churn model fitted on the tenant's outcomes (langnghe train --churn);
-- used instead of the transparent score only when it scored better on held-out customers.
CREATE TABLE churn_models (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    model jsonb NOT NULL,
    active boolean NOT NULL,
    trained_at timestamptz NOT NULL DEFAULT now()
);

-- Recovery cases live in the complaint inbox beside complaints: a case about a customer,
-- not an item, so it may have no feedback.
ALTER TABLE complaints
    ALTER COLUMN feedback_id DROP NOT NULL,
    ADD COLUMN kind text NOT NULL DEFAULT 'complaint' CHECK (kind IN ('complaint', 'recovery')),
    ADD COLUMN customer_ref text,
    ADD COLUMN suggested_action text;
-- At most one unresolved recovery case per customer.
CREATE UNIQUE INDEX complaints_open_recovery ON complaints (tenant_id, customer_ref)
    WHERE kind = 'recovery' AND status <> 'resolved';
