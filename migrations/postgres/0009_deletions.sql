-- Deleted documents, for the purge of their payloads (see the materializer's
-- `worker/purge.rs`): when this node saw each one deleted, and when its
-- CREATE and UPDATE payloads were purged. A purged payload is stored empty
-- (no operation encodes to nothing); its entry stays, so the log verifies.
CREATE TABLE deletions (
    -- Hex, as the view tables name documents.
    document_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    schema_id    TEXT    NOT NULL,
    -- Milliseconds since the Unix epoch.
    deleted_at   BIGINT  NOT NULL,
    purged_at    BIGINT
);

CREATE INDEX deletions_due ON deletions (deleted_at) WHERE purged_at IS NULL;

-- Documents deleted before this table existed: their grace period starts now
-- (schema definitions are never purged).
INSERT INTO deletions (document_id, schema_id, deleted_at)
SELECT encode(document_id, 'hex'), MIN(schema_id), (extract(epoch from now()) * 1000)::BIGINT
FROM entries
WHERE action = 2 AND schema_id NOT IN ('schema_definition_v1', 'schema_field_definition_v1')
GROUP BY document_id;
