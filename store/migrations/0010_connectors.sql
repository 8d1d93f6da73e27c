-- Connectors: feedback pulled in on a schedule (an IMAP mailbox, a CSV/JSONL drop folder)
-- and help-desk ticketing both ways (Zendesk, Freshdesk).
-- depends: 0001_initial 0003_complaints

CREATE TABLE connectors (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('imap', 'folder', 'zendesk', 'freshdesk')),
    name text NOT NULL,
    -- Everything but the credentials, as given at creation.
    config jsonb NOT NULL,
    -- The credentials: a Fernet token of a JSON object (langnghe/secrets.py), never returned.
    secrets text,
    -- What the API may show of each credential: its masked tail.
    secret_hints jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Where the next pull starts (IMAP: UIDVALIDITY and the last UID seen).
    cursor jsonb NOT NULL DEFAULT '{}'::jsonb,
    interval_s integer NOT NULL CHECK (interval_s BETWEEN 10 AND 86400),
    next_run_at timestamptz NOT NULL DEFAULT now(),
    -- A run in progress holds this lease; a worker that dies lets it run out.
    running_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX connectors_tenant ON connectors (tenant_id, created_at, id);
CREATE INDEX connectors_due ON connectors (next_run_at) WHERE kind IN ('imap', 'folder');

-- One row per run of a pull connector: what GET /v1/connectors shows as the last run.
CREATE TABLE connector_runs (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connector_id uuid NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL CHECK (status IN ('ok', 'error')),
    fetched integer NOT NULL DEFAULT 0,
    accepted integer NOT NULL DEFAULT 0,
    duplicates integer NOT NULL DEFAULT 0,
    rejected integer NOT NULL DEFAULT 0,
    error text
);
CREATE INDEX connector_runs_connector ON connector_runs (connector_id, id DESC);

-- The ticket of a complaint in a help desk. The unique complaint_id is the claim that
-- makes a second ticket impossible: a complaint is queued once, and only its row's
-- holder (a lease on next_attempt_at) may call the help desk for it.
CREATE TABLE helpdesk_tickets (
    complaint_id uuid PRIMARY KEY REFERENCES complaints(id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connector_id uuid NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'created', 'dead')),
    ticket_id text,
    ticket_status text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connector_id, ticket_id)
);
CREATE INDEX helpdesk_tickets_due ON helpdesk_tickets (next_attempt_at) WHERE state = 'pending';
CREATE INDEX helpdesk_tickets_tenant ON helpdesk_tickets (tenant_id, connector_id, created_at);

-- Items pulled by connectors are counted apart from those posted or loaded by the CLI.
ALTER TABLE ingest_counts DROP CONSTRAINT ingest_counts_origin_check;
ALTER TABLE ingest_counts ADD CONSTRAINT ingest_counts_origin_check
    CHECK (origin IN ('api', 'cli', 'connector'));
