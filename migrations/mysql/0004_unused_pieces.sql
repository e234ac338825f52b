-- Blob pieces that no blob uses are purged after the grace period, as
-- deleted documents are (see the materializer's `worker/purge.rs`): such a
-- piece has a row here with `unused = 1`, and `deleted_at` is when it was
-- seen unused. At its time it is purged only if still unused (or deleted);
-- otherwise the row goes.
ALTER TABLE deletions ADD COLUMN unused BIGINT NOT NULL DEFAULT 0;
