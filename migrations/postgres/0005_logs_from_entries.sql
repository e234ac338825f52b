-- Logs are read from their entries: a log's first entry (seq num 1) names its
-- author, log id, document and schema, and its head is its entry with the
-- highest seq num (the unique `(public_key, log_id, seq_num)`). The logs
-- table cost every new document four b-tree pages with their own keys (the
-- row, its primary key, the author's documents, the schema's documents) and
-- every later entry an update of its log's row; these two partial indexes
-- hold one row per log and change only when a log opens.
CREATE UNIQUE INDEX entries_log_document ON entries (public_key, document_id) WHERE seq_num = 1;
CREATE INDEX entries_log_schema ON entries (schema_id, document_id) WHERE seq_num = 1;
DROP TABLE logs;
