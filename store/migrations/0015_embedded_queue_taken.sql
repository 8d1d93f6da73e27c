-- The embedded queue (kombu's SQLAlchemy transport on this database) used to keep every
-- message it handed out, marked invisible, for ever; workers/embedded_transport.py now
-- deletes a message when it takes it. Delete what older versions left: an invisible row
-- was never made visible again. kombu creates its tables on first use, so they may not
-- exist (and never do with a Redis or RabbitMQ broker).
-- depends: 0014_themes

DO $$
BEGIN
    IF to_regclass('kombu_message') IS NOT NULL THEN
        DELETE FROM kombu_message WHERE visible = false;
    END IF;
END
$$;
