-- A document's operations are found through its logs (one per author, with
-- its schema: `logs_schema`), then each log's entries by position (the
-- unique `(public_key, log_id, seq_num)`). The index of entries by document
-- cost one more page with a random key for every entry appended.
DROP INDEX entries_document;
