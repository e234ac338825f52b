-- A new document's entry landed on a random page of `entries_log_schema`
-- (keyed by its schema and its random document id): a fifth of the pages an
-- append of creates wrote. A document's own log is found through its
-- create, whose hash is the document id (`entries.entry_hash`); only logs
-- that other authors' updates and deletes open need an index by document.
-- A schema's logs are listed by schema alone, kept in insertion order
-- (SQLite orders equal keys by rowid, PostgreSQL by heap position), so a
-- new document's row goes to the end of its schema's range.
CREATE INDEX entries_document_logs ON entries (document_id, schema_id) WHERE seq_num = 1 AND action <> 0;
CREATE INDEX entries_schema_logs ON entries (schema_id) WHERE seq_num = 1;
DROP INDEX entries_log_schema;
