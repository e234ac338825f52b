#!/usr/bin/env python3
"""WAL frame census: which b-trees the commits in a SQLite WAL wrote.

Usage: tools/wal-census.py <database file> <copy of its -wal file>

Run a load (e.g. `hoffnung-loadgen publish --database-url "sqlite:///tmp/lg/db.sqlite?mode=rwc" ...`),
kill it with -9 mid-run, copy `db.sqlite-wal` aside, then run this on the database and the copy.
It reads the frame headers of the WAL's current generation (its salt), splits them into
commits, maps page numbers to b-trees with the `dbstat` table of a recovered copy, and prints
the frames per commit by b-tree, apart for append commits (those that touch `entries`) and
view transactions (the rest). Each frame is a 4 KiB write at commit and again at checkpoint.
"""
import collections
import shutil
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path


def main(db: str, wal: str) -> None:
    data = Path(wal).read_bytes()
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = struct.unpack(">8I", data[:32])
    frame = 24 + page_size
    commits, current, offset = [], [], 32
    while offset + frame <= len(data):
        page, db_size, s1, s2 = struct.unpack(">4I", data[offset : offset + 16])
        if (s1, s2) != (salt1, salt2):
            break  # frames of an earlier generation
        current.append(page)
        if db_size:
            commits.append(current)
            current = []
        offset += frame
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "db.sqlite"
        shutil.copy(db, copy)
        shutil.copy(wal, f"{copy}-wal")
        con = sqlite3.connect(copy)
        owner = dict((p, n) for n, p in con.execute("SELECT name, pageno FROM dbstat"))
        con.close()
    kinds = {"append": collections.Counter(), "view": collections.Counter()}
    counts = collections.Counter()
    for pages in commits:
        names = [owner.get(p, "?") for p in pages]
        kind = "append" if "entries" in names else "view"
        counts[kind] += 1
        kinds[kind].update(names)
    print(f"page size {page_size}, {sum(map(len, commits))} frames in {len(commits)} commits")
    for kind, tally in kinds.items():
        n = max(counts[kind], 1)
        print(f"{kind}: {counts[kind]} commits, {sum(tally.values()) / n:.1f} frames per commit")
        for name, c in tally.most_common(12):
            print(f"    {name:48} {c / n:6.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
