-- The materializer's record of work: every entry with an id up to `cursor`
-- is reflected in the view tables. It moves in the same transaction as the
-- view rows it stands for, so a crash never loses or repeats half a batch.
CREATE TABLE materializer (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cursor BIGINT  NOT NULL CHECK (cursor >= 0)
);
INSERT INTO materializer (id, cursor) VALUES (1, 0);

-- One row per schema that has view tables: `<table>` holds the current
-- view of each document, `<table>__views` every view that was a document's
-- current one, `<table>__lists` the items of relation lists of current views.
CREATE TABLE view_tables (
    schema_id  TEXT NOT NULL PRIMARY KEY,
    table_name TEXT NOT NULL UNIQUE
);
