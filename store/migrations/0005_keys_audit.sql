-- Scoped, expiring API keys; the audit log; per-key daily usage for quotas; fair dispatch
-- of analysis across tenants; erasure receipts and per-tenant retention.
-- depends: 0004_aspects

-- Scopes: ingest (POST /v1/feedback only), read (every GET but keys and audit), admin
-- (everything). Keys made before scopes existed could do everything, so they become admin.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{admin}'
        CHECK (scopes <@ ARRAY['ingest', 'read', 'admin'] AND cardinality(scopes) > 0),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz,
    -- The key this one replaced through `rotate`; kept for the audit trail.
    ADD COLUMN rotated_from uuid REFERENCES api_keys(id) ON DELETE SET NULL;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at DESC, id DESC);

-- Every change a person or a key made: who, what, which target, when, from where.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- 'key' (an API call), 'dashboard' (a logged-in analyst, by the key they logged in
    -- with), 'cli' (an operator on the machine), 'system' (a scheduled job).
    actor_type text NOT NULL CHECK (actor_type IN ('key', 'dashboard', 'cli', 'system')),
    actor_id text,
    actor_name text,
    action text NOT NULL,
    target_type text,
    target_id text,
    client_ip text,
    status integer,
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, created_at DESC, id DESC);

-- Items accepted per key and UTC day: the items/day quota holds across API processes.
CREATE TABLE usage_daily (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day date NOT NULL,
    items bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, key_id)
);

-- Items stored, by tenant, channel and origin (api or cli), counted in the ingest's own
-- transaction: /metrics reports them for every process, `langnghe ingest` included.
CREATE TABLE ingest_counts (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel text NOT NULL,
    origin text NOT NULL CHECK (origin IN ('api', 'cli')),
    items bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, channel, origin)
);

-- Fair dispatch: an item is queued (a message sent for it) or waiting for its tenant's
-- share of the workers. NULL for items stored before this migration: the sweep queues them.
ALTER TABLE feedback ADD COLUMN queued_at timestamptz;
CREATE INDEX feedback_inflight ON feedback (tenant_id)
    WHERE status IN ('pending', 'processing') AND queued_at IS NOT NULL;
CREATE INDEX feedback_waiting ON feedback (tenant_id, received_at, id)
    WHERE status = 'pending' AND queued_at IS NULL;
CREATE INDEX feedback_customer ON feedback (tenant_id, customer_ref)
    WHERE customer_ref IS NOT NULL;

-- One receipt per erasure. The identifier itself is not kept (that would keep the personal
-- data we were asked to erase): only its kind and a SHA-256.
CREATE TABLE erasure_receipts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    subject_kind text NOT NULL CHECK (subject_kind IN ('customer_ref', 'email', 'phone')),
    subject_sha256 text NOT NULL,
    requested_by text,
    counts jsonb NOT NULL
);
CREATE INDEX erasure_receipts_tenant ON erasure_receipts (tenant_id, created_at DESC, id DESC);

-- Retention per tenant: items older than `days` are deleted, or anonymised (text, customer
-- reference, external id and metadata removed; the analysis figures kept for the reports).
CREATE TABLE retention_policies (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    days integer NOT NULL CHECK (days BETWEEN 1 AND 36500),
    mode text NOT NULL CHECK (mode IN ('delete', 'anonymise')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE retention_runs (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ran_at timestamptz NOT NULL DEFAULT now(),
    days integer NOT NULL,
    mode text NOT NULL,
    cutoff timestamptz NOT NULL,
    counts jsonb NOT NULL
);
CREATE INDEX retention_runs_tenant ON retention_runs (tenant_id, ran_at DESC, id DESC);
ALTER TABLE feedback ADD COLUMN anonymised_at timestamptz;
