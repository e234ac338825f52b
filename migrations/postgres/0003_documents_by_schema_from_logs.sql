-- Documents of a schema are found through their logs (every document has at
-- least one log, which names its schema): a log row is written once per
-- author and document, an entry row once per operation, so the index is
-- cheaper to keep here.
DROP INDEX entries_schema;
CREATE INDEX logs_schema ON logs (schema_id, document_id);
