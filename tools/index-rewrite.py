#!/usr/bin/env python3
"""What rewriting an unchanged indexed column costs in SQLite.

Usage: python3 tools/index-rewrite.py [rows]

A WITHOUT ROWID table keyed by random hex ids, like a view table, with two
field indexes `(name, id)` and `(type, id)`; `rows` rows (default 100,000).
Then 20 transactions of 75 upserts each rename random documents (only `name`
changes), once with `type` in the `SET` list and once without, and the WAL
frames each transaction wrote are counted. SQLite rewrites a row's entry in
every index over a column it sets, changed or not: one more random page per
index and document (see `ViewBatch::replaced` in the store).
"""
import os
import random
import secrets
import sqlite3
import sys
import tempfile


def frames_per_transaction(rows: int, set_type: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "idx.db")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("CREATE TABLE t (id TEXT PRIMARY KEY, vid TEXT, name TEXT, type TEXT) WITHOUT ROWID")
        con.execute("CREATE INDEX i0 ON t (name, id)")
        con.execute("CREATE INDEX i1 ON t (type, id)")
        ids = [secrets.token_hex(34) for _ in range(rows)]
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            [(i, secrets.token_hex(34), "field_" + i[:8], "str") for i in ids],
        )
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = con.execute("PRAGMA page_size").fetchone()[0]
        sets = "vid = excluded.vid, name = excluded.name"
        if set_type:
            sets += ", type = excluded.type"
        random.seed(1)
        total = 0
        for r in range(20):
            before = os.path.getsize(path + "-wal")
            con.execute("BEGIN")
            con.executemany(
                f"INSERT INTO t VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET {sets}",
                [(i, secrets.token_hex(34), f"renamed_{r}", "str") for i in random.sample(ids, 75)],
            )
            con.execute("COMMIT")
            total += (os.path.getsize(path + "-wal") - before) // (page + 24)
        con.close()
        return total / 20


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"every column set:       {frames_per_transaction(rows, True):.1f} WAL frames per 75 renames")
    print(f"changed columns only:   {frames_per_transaction(rows, False):.1f} WAL frames per 75 renames")
