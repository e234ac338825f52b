-- Every new document's create landed on a random page of
-- `entries_log_document` (keyed by its author and its random document id):
-- about a quarter of the pages an append of creates wrote. An author's log
-- of its own document is found through the create, whose hash is the
-- document id (`entries.entry_hash`, as in 0006); only the logs an author's
-- updates and deletes open on others' documents keep an index by author and
-- document, unique: the last line of defence against two such logs of one
-- author for one document (the writer's checks keep an author's own
-- document in the log of its create). An author's logs are listed through
-- the unique `(public_key, log_id, seq_num)`.
CREATE UNIQUE INDEX entries_foreign_logs ON entries (public_key, document_id) WHERE seq_num = 1 AND action <> 0;
DROP INDEX entries_log_document;
