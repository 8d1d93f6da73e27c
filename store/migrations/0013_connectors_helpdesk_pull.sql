-- Help-desk connectors may pull their tickets and customer comments in as feedback
-- (config.pull): the scheduler's index covers them too.
-- depends: 0010_connectors

DROP INDEX IF EXISTS connectors_due;
CREATE INDEX connectors_due ON connectors (next_run_at)
    WHERE (kind IN ('imap', 'folder')
           OR (kind IN ('zendesk', 'freshdesk') AND config->>'pull' = 'true'));
