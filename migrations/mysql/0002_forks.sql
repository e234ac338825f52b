-- Proofs of forked logs (see `core/src/fork.rs`): two signed entries of
-- one author and log that cannot both be in it. One row per log, the proof
-- of its lowest disputed seq num: the log is frozen from `seq_num` on
-- (nothing at or above it is accepted, served or materialized).
CREATE TABLE forks (
    public_key   TINYBLOB  NOT NULL,
    log_id       BIGINT    NOT NULL,
    -- The first disputed seq num.
    seq_num      BIGINT    NOT NULL,
    -- The two encoded entries, lower position (then lower hash) first.
    entry_a      BLOB      NOT NULL,
    entry_b      BLOB      NOT NULL,
    -- When this node learnt of it, in milliseconds since the Unix epoch.
    detected_at  BIGINT    NOT NULL,
    PRIMARY KEY (public_key(32), log_id)
) ENGINE = InnoDB;
