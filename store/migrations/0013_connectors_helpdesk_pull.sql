-- Help-desk connectors may pull their tickets and customer comments in as feedback
-- (config.pull): the scheduler's index covers them too. And notification channels may
-- send the CX-analyst digest beside the support-lead one; a run keeps its first rejections.
-- depends: 0009_notifications 0010_connectors

DROP INDEX IF EXISTS connectors_due;
CREATE INDEX connectors_due ON connectors (next_run_at)
    WHERE (kind IN ('imap', 'folder')
           OR (kind IN ('zendesk', 'freshdesk') AND config->>'pull' = 'true'));

-- Which digests a notification channel's schedule sends: the support lead's (open P1/P2,
-- SLA breaches, oldest unanswered) and/or the CX analyst's (top topics and their
-- movement, CSAT/NPS by segment, emerging topics). Existing channels keep the support one.
ALTER TABLE notification_channels
    ADD COLUMN digest_audiences text[] NOT NULL DEFAULT '{support}'
    CHECK (cardinality(digest_audiences) >= 1
           AND digest_audiences <@ ARRAY['support', 'analyst']::text[]);

-- The first rejected items of each connector run, with why (GET /v1/connectors shows them).
ALTER TABLE connector_runs ADD COLUMN rejections jsonb NOT NULL DEFAULT '[]'::jsonb;
