//! The tunables of a store.

/// What a fork of one of an author's logs costs the author.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForkedAuthors {
    /// The forked log is frozen from the fork on; the author's other logs
    /// go on as before.
    #[default]
    Freeze,
    /// Nothing of the author is accepted, served or materialized any more,
    /// in any log.
    Block,
}

/// Tunables of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Connections of the read pool (the writer holds one more).
    pub max_connections: u32,
    /// Largest operation accepted, in bytes.
    pub max_payload_size: u64,
    /// Most entries the writer gathers from concurrent publishes into one
    /// transaction.
    pub max_batch: usize,
    /// Entries per transaction of a bulk ingest (replication, import):
    /// larger, since one caller has them all at hand and each commit costs
    /// an fsync.
    pub bulk_batch: usize,
    /// SQLite: documents a filtered collection query looks at in order
    /// before it leaves the page to the planner (`CompiledQuery::fetch`;
    /// at least four pages). Small: the window is materialized each time.
    pub query_window: u32,
    /// SQLite: WAL frames (pages) beyond which the writer completes a
    /// checkpoint between two transactions, so that the WAL starts over
    /// (background checkpoints alone cannot while commits keep coming).
    /// Each such checkpoint holds up the writer (~8 ms since the checkpoint
    /// task syncs the database file first; 20-30 ms before), but a WAL that
    /// overwrites its own file is cheaper to flush than one
    /// that grows: `fdatasync` of appended blocks also commits the file
    /// system's journal (twice the time here). 32,000 (128 MiB of WAL)
    /// against 64,000: +10-15 % publishes/s on a young database, the same
    /// at 100,000 documents; 16,000 then held the writer up 3x as long for
    /// no more (docs/benchmarks.md).
    pub wal_restart_frames: i64,
    /// SQLite: how long commits gather before a background checkpoint
    /// copies them (see `checkpoint`); 20 ms once the WAL is past half of
    /// `wal_restart_frames`.
    pub checkpoint_pause: std::time::Duration,
    /// Entries the writer's caches of logs and operations take before the
    /// least used half is forgotten (a lookup then reads the database).
    pub writer_cache_entries: usize,
    /// SQLite: KiB of page cache per pooled connection.
    pub sqlite_cache_kib: u32,
    /// SQLite: bytes of the database file each pooled connection maps into
    /// memory (pages read through the map count in the process's RSS).
    pub sqlite_mmap_bytes: u64,
    /// What a forked log means for its author's other logs.
    pub forked_authors: ForkedAuthors,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            max_payload_size: hoffnung_core::entry::DEFAULT_MAX_PAYLOAD_SIZE,
            max_batch: 512,
            bulk_batch: 4096,
            query_window: 128,
            wal_restart_frames: 32_000,
            checkpoint_pause: std::time::Duration::from_millis(200),
            writer_cache_entries: 250_000,
            sqlite_cache_kib: 32 * 1024,
            sqlite_mmap_bytes: 256 * 1024 * 1024,
            forked_authors: ForkedAuthors::Freeze,
        }
    }
}

impl StoreConfig {
    /// For small devices: one read connection beside the writer's and the
    /// checkpointer's, 2 MiB of page cache each and no memory map, so that
    /// the database's pages stay out of the process's memory, and a writer
    /// that remembers 20,000 entries (fewer made it load authors' logs
    /// again and again; docs/benchmarks.md, "A small device").
    pub fn small() -> Self {
        Self {
            max_connections: 2,
            writer_cache_entries: 20_000,
            sqlite_cache_kib: 2 * 1024,
            sqlite_mmap_bytes: 0,
            ..Self::default()
        }
    }
}
