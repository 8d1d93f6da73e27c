-- Themes: a second level above topics. Each refit groups the tenant's topics into themes
-- (agglomerative clustering of their centroids); analysts rename themes and move topics.
-- depends: 0002_topics

-- A theme keeps its id across refits while a new group holds most of its topics (by items);
-- the analyst's name (label) lives on the row, so it survives refits like a topic's.
CREATE TABLE topic_themes (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id integer NOT NULL CHECK (id >= 0),
    auto_label text NOT NULL,
    label text CHECK (label IS NULL OR length(label) BETWEEN 1 AND 200),
    size integer NOT NULL DEFAULT 0,
    -- false: no topic of the latest fit is in it; kept for history and edits.
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- A topic's theme. theme_pinned: an analyst put it there, and refits leave it there.
ALTER TABLE topics
    ADD COLUMN theme_id integer,
    ADD COLUMN theme_pinned boolean NOT NULL DEFAULT false,
    ADD FOREIGN KEY (tenant_id, theme_id) REFERENCES topic_themes (tenant_id, id);
CREATE INDEX topics_theme ON topics (tenant_id, theme_id);
