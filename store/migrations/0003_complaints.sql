-- Complaint inbox, per-tenant flagging policy, delivery hardening and signal alerts.
-- depends: 0001_initial

-- One policy document per tenant; a tenant without a row uses the defaults in code.
CREATE TABLE tenant_policies (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    policy jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- One complaint per item: a re-analysis never flags an item twice.
    feedback_id uuid NOT NULL UNIQUE REFERENCES feedback(id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'resolved')),
    -- p1 is the most urgent; text order is urgency order, which the filters rely on.
    priority text NOT NULL CHECK (priority IN ('p1', 'p2', 'p3', 'p4')),
    priority_score real NOT NULL,
    reasons text[] NOT NULL,
    category text,
    channel text NOT NULL,
    language text,
    severity text NOT NULL,
    churn_risk boolean NOT NULL,
    complaint_score real NOT NULL,
    customer_value real,
    assignee text,
    flagged_at timestamptz NOT NULL DEFAULT now(),
    sla_due_at timestamptz NOT NULL,
    first_response_at timestamptz,
    resolved_at timestamptz,
    resolution_code text,
    reopen_count integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_tenant_flagged ON complaints (tenant_id, flagged_at DESC, id DESC);
CREATE INDEX complaints_tenant_open ON complaints (tenant_id, priority, sla_due_at)
    WHERE status <> 'resolved';

-- Every change to a complaint, in order: the detail page's history and the metrics' source.
CREATE TABLE complaint_history (
    id bigserial PRIMARY KEY,
    complaint_id uuid NOT NULL REFERENCES complaints(id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    action text NOT NULL,
    actor text,
    note text,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaint_history_complaint ON complaint_history (complaint_id, id);

-- Delivery hardening: a minimum priority per subscription and a second secret during rotation.
ALTER TABLE webhook_subscriptions
    ADD COLUMN min_priority text CHECK (min_priority IN ('p1', 'p2', 'p3', 'p4')),
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_expires_at timestamptz;

-- The delivery log: one row per attempt.
CREATE TABLE delivery_attempts (
    id bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error text,
    duration_ms real
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, created_at DESC, id DESC);

-- signal.csat_drop fires once per tenant, segment and window.
CREATE TABLE signal_alerts (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind text NOT NULL,
    segment text NOT NULL,
    window_end timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, segment, window_end)
);

-- The signal queries bucket items by when they happened (occurred_at, else received_at).
CREATE INDEX feedback_happened ON feedback ((COALESCE(occurred_at, received_at)));
CREATE INDEX feedback_tenant_happened ON feedback (tenant_id, (COALESCE(occurred_at, received_at)));
