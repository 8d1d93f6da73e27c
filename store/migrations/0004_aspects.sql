-- Aspect-level sentiment: [{"aspect", "polarity", "score", "span": {"start", "end", "text"}}],
-- empty when the worker runs without an aspect domain.
-- depends: 0001_initial

ALTER TABLE analyses ADD COLUMN aspects jsonb NOT NULL DEFAULT '[]'::jsonb;
