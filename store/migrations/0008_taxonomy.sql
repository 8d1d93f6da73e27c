-- Each tenant's own taxonomy, corrections as labels, and tenant heads trained on them.
-- depends: 0001_initial 0003_complaints

-- A tenant with a row here classifies complaint categories with its own taxonomy.
-- version is bumped on every change; analyses record the version that categorised them.
CREATE TABLE taxonomies (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    mode text NOT NULL DEFAULT 'extend' CHECK (mode IN ('replace', 'extend')),
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE taxonomy_categories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{1,63}$'),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Example texts of a category; embedding (float32 bytes) is NULL until a worker embeds it.
CREATE TABLE taxonomy_examples (
    id bigserial PRIMARY KEY,
    category_id uuid NOT NULL REFERENCES taxonomy_categories(id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    text text NOT NULL,
    embedding bytea
);
CREATE INDEX taxonomy_examples_tenant ON taxonomy_examples (tenant_id);

-- Re-categorising stored analyses with the current taxonomy: an explicit job with progress.
CREATE TABLE recategorize_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    taxonomy_version integer,
    total integer NOT NULL DEFAULT 0,
    processed integer NOT NULL DEFAULT 0,
    changed integer NOT NULL DEFAULT 0,
    requested_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    error text
);
CREATE INDEX recategorize_jobs_tenant ON recategorize_jobs (tenant_id, created_at DESC);

-- A person's correction of an item's analysis: a label. NULL fields were not corrected.
CREATE TABLE corrections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    feedback_id uuid NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
    sentiment text CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    complaint boolean,
    category text,
    churn_risk boolean,
    severity text CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    note text,
    actor text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(sentiment, complaint, category, churn_risk, severity) > 0)
);
CREATE INDEX corrections_item ON corrections (tenant_id, feedback_id, created_at DESC);
CREATE INDEX corrections_tenant_created ON corrections (tenant_id, created_at);

-- One row per `langnghe train --tenant` run (CLI or beat): when, why, on how much.
CREATE TABLE tenant_training_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    trigger text NOT NULL CHECK (trigger IN ('cli', 'schedule', 'test')),
    corrections integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX tenant_training_runs_tenant ON tenant_training_runs (tenant_id, started_at DESC);

-- Every candidate head a run fitted, with its held-out figures against the heads in force.
-- status: active (in force), rejected (not better), retired (replaced by a better one).
CREATE TABLE tenant_models (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    run_id uuid NOT NULL REFERENCES tenant_training_runs(id) ON DELETE CASCADE,
    head text NOT NULL
        CHECK (head IN ('sentiment', 'complaint', 'category', 'churn_risk', 'severity')),
    version text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'rejected', 'retired')),
    classes text[] NOT NULL,
    -- float32 little-endian: weights (len(classes) x dim) and bias (len(classes)).
    weights bytea NOT NULL,
    bias bytea NOT NULL,
    n_train integer NOT NULL,
    n_heldout integer NOT NULL,
    metric text NOT NULL DEFAULT 'macro_f1',
    score_candidate real NOT NULL,
    score_current real NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    retired_at timestamptz
);
CREATE UNIQUE INDEX tenant_models_one_active ON tenant_models (tenant_id, head)
    WHERE status = 'active';
CREATE INDEX tenant_models_tenant ON tenant_models (tenant_id, created_at DESC);
