-- Deleted documents, for the purge of their payloads (see the materializer's
-- `worker/purge.rs`): when this node saw each one deleted, and when its
-- CREATE and UPDATE payloads were purged. A purged payload is stored empty
-- (no operation encodes to nothing); its entry stays, so the log verifies.
CREATE TABLE deletions (
    -- Hex, as the view tables name documents.
    document_id  VARCHAR(68) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    schema_id    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- Milliseconds since the Unix epoch.
    deleted_at   BIGINT  NOT NULL,
    purged_at    BIGINT,
    INDEX deletions_due (purged_at, deleted_at)
) ENGINE = InnoDB;

-- Documents deleted before this table existed: their grace period starts now
-- (schema definitions are never purged).
INSERT INTO deletions (document_id, schema_id, deleted_at)
SELECT lower(hex(document_id)), MIN(schema_id), UNIX_TIMESTAMP() * 1000
FROM entries
WHERE action = 2 AND schema_id NOT IN ('schema_definition_v1', 'schema_field_definition_v1')
GROUP BY document_id;
