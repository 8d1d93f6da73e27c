-- The system of record: tenants, feedback, analyses, the outbox and webhook deliveries.

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Outbox sequence per tenant: bumping it locks the tenant row until commit,
    -- so events become visible in sequence order and a cursor never skips one.
    event_seq bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '',
    prefix text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE feedback (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('review', 'email', 'social', 'call_transcript', 'survey')),
    external_id text,
    text text NOT NULL,
    language text,
    customer_ref text,
    rating real CHECK (rating BETWEEN 1 AND 5),
    survey_score smallint CHECK (survey_score BETWEEN 0 AND 10),
    occurred_at timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (tenant_id, source, external_id)
);
CREATE INDEX feedback_tenant_received ON feedback (tenant_id, received_at DESC, id DESC);
CREATE INDEX feedback_unfinished ON feedback (status_changed_at)
    WHERE status IN ('pending', 'processing');

CREATE TABLE analyses (
    feedback_id uuid PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    model_versions jsonb NOT NULL,
    language text NOT NULL,
    sentiment text NOT NULL CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    sentiment_score real NOT NULL,
    sentiment_probs jsonb NOT NULL,
    complaint boolean NOT NULL,
    complaint_score real NOT NULL,
    complaint_category text,
    severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    churn_risk boolean NOT NULL,
    csat_distribution real[] NOT NULL CHECK (cardinality(csat_distribution) = 5),
    csat_expected real NOT NULL,
    nps_class text NOT NULL CHECK (nps_class IN ('detractor', 'passive', 'promoter')),
    -- float32 little-endian bytes: compact, and numpy reads it without parsing.
    embedding bytea NOT NULL,
    analyzed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analyses_tenant_analyzed ON analyses (tenant_id, analyzed_at);

CREATE TABLE events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, seq)
);

CREATE TABLE webhook_subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url text NOT NULL,
    event_types text[] NOT NULL,
    -- Kept in clear: the service must sign with it.
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id);

CREATE TABLE deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    event_id uuid NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
