-- Notification channels: Slack, Microsoft Teams and SMTP e-mail destinations per tenant.
-- depends: 0001_initial 0003_complaints
-- They are delivery targets of the one outbox: a delivery row goes either to a webhook
-- subscription or to a channel, with the same claim, retries, dead letter and log.

-- Quiet hours and digests are in the tenant's own time zone (an IANA name).
ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

CREATE TABLE notification_channels (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('slack', 'teams', 'email')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'vi')),
    enabled boolean NOT NULL DEFAULT true,
    -- What is not secret: SMTP host, port, security, username, sender, recipients.
    config jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The secret (a Slack/Teams webhook URL, an SMTP password), Fernet-encrypted with
    -- LANGNGHE_SECRET_KEY; secret_hint is the masked tail the API shows instead.
    secret_enc text,
    secret_hint text,
    -- Routing: an event goes to the channel only when every set rule matches.
    event_types text[] NOT NULL,
    min_priority text CHECK (min_priority IN ('p1', 'p2', 'p3', 'p4')),
    categories text[],
    languages text[],
    -- Quiet hours, tenant-local: no message from start up to end (may wrap midnight).
    quiet_start time,
    quiet_end time,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    -- Rate limit: at most this many messages per minute; the rest wait and are batched.
    max_per_minute integer NOT NULL DEFAULT 6 CHECK (max_per_minute BETWEEN 1 AND 600),
    window_started_at timestamptz,
    window_count integer NOT NULL DEFAULT 0,
    -- A scheduled digest for support leads: daily, or weekly on Mondays, at this local hour;
    -- digest_last_at is the last slot queued (claimed once, so beat may run anywhere).
    digest text CHECK (digest IN ('daily', 'weekly')),
    digest_hour smallint NOT NULL DEFAULT 8 CHECK (digest_hour BETWEEN 0 AND 23),
    digest_last_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_channels_tenant ON notification_channels (tenant_id, created_at);
CREATE INDEX notification_channels_digest ON notification_channels (id) WHERE digest IS NOT NULL;

ALTER TABLE deliveries
    ALTER COLUMN subscription_id DROP NOT NULL,
    ADD COLUMN channel_id uuid REFERENCES notification_channels(id) ON DELETE CASCADE,
    ADD CONSTRAINT deliveries_one_target CHECK (num_nonnulls(subscription_id, channel_id) = 1),
    ADD CONSTRAINT deliveries_event_channel UNIQUE (event_id, channel_id);
-- A channel's due backlog, gathered into one message; and its delivery log.
CREATE INDEX deliveries_channel ON deliveries (channel_id, created_at DESC, id DESC)
    WHERE channel_id IS NOT NULL;
