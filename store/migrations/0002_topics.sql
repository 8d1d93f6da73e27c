-- Topics per tenant: fits, topics with stable ids and analyst edits, assignments, alerts.
-- depends: 0001_initial

-- One row per fit (refit): what ran, on how much, with what result.
CREATE TABLE topic_models (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    n_docs integer,
    n_topics integer,
    outlier_share_before real,
    outlier_share real,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Per-language mean embeddings subtracted before clustering ({"vi": [...], ...});
    -- new items are centred with the same means before they are assigned.
    language_means jsonb NOT NULL DEFAULT '{}'::jsonb,
    error text
);
CREATE INDEX topic_models_tenant ON topic_models (tenant_id, started_at DESC);

-- A topic keeps its id across refits while a new cluster's centroid matches it.
-- Analyst edits (label, is_noise, merged_into) live on the row, so they survive refits.
CREATE TABLE topics (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id integer NOT NULL CHECK (id >= 0),
    keywords jsonb NOT NULL DEFAULT '[]'::jsonb,
    auto_label text NOT NULL,
    label text CHECK (label IS NULL OR length(label) BETWEEN 1 AND 200),
    is_noise boolean NOT NULL DEFAULT false,
    merged_into integer,
    -- float32 little-endian unit vector in the centred embedding space.
    centroid bytea NOT NULL,
    min_similarity real NOT NULL,
    size integer NOT NULL DEFAULT 0,
    -- false: no cluster of the latest fit matched it; kept for history and edits.
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, merged_into) REFERENCES topics (tenant_id, id),
    CHECK (merged_into IS NULL OR merged_into <> id)
);

-- The raw topic of each analysed item (-1: outlier); reports resolve merges at read time.
CREATE TABLE topic_assignments (
    feedback_id uuid PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    topic_id integer NOT NULL CHECK (topic_id >= -1),
    similarity real NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topic_assignments_tenant_topic ON topic_assignments (tenant_id, topic_id);

-- Emerging-topic alerts already raised, so one spike is announced once.
CREATE TABLE topic_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    topic_id integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('volume', 'negative_share')),
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    current real NOT NULL,
    baseline_mean real NOT NULL,
    baseline_sd real NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topic_alerts_recent ON topic_alerts (tenant_id, topic_id, kind, window_end DESC);
