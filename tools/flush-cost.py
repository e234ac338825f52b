#!/usr/bin/env python3
"""What a WAL flush and a WAL commit's writes cost on this machine's disk.

Two measurements behind choices in store/ (docs/benchmarks.md, eighth session):

1. `fdatasync` after writing 64 KiB at the end of a growing file against after
   overwriting 64 KiB of blocks that exist: why a WAL that starts over often
   (`StoreConfig::wal_restart_frames`) is cheaper to flush than a growing one.
2. A commit of 18 WAL frames written as SQLite does (two `pwrite`s per frame:
   its 24-byte header, then the 4 KiB page) against one `pwritev` of the same
   bytes: what gathering a transaction's frames into one write would save.

Usage: python3 tools/flush-cost.py [directory]   (default: /tmp; use the disk
the node's data directory is on)
"""
import os
import sys
import time


def flush_cost(path, rounds=500):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = os.urandom(64 * 1024)
    out = []
    for what in ("append", "overwrite"):
        # The first pass grows the file; the second writes the same offsets.
        t = time.perf_counter()
        for i in range(rounds):
            os.pwrite(fd, buf, i * len(buf))
            os.fdatasync(fd)
        out.append((what, (time.perf_counter() - t) / rounds))
    os.close(fd)
    os.unlink(path)
    return out


def frame_writes_cost(path, frames=18, rounds=3000):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    header, page = b"h" * 24, os.urandom(4096)
    size = frames * (24 + 4096)
    os.pwrite(fd, b"\0" * size * 4, 0)  # blocks exist: overwrites only

    def two_writes(base):
        for i in range(frames):
            off = base + i * (24 + 4096)
            os.pwrite(fd, header, off)
            os.pwrite(fd, page, off + 24)

    def one_writev(base):
        os.pwritev(fd, [b for _ in range(frames) for b in (header, page)], base)

    out = []
    for f in (two_writes, one_writev):
        t = time.perf_counter()
        for i in range(rounds):
            f((i % 4) * size)
        out.append((f.__name__, (time.perf_counter() - t) / rounds))
    os.close(fd)
    os.unlink(path)
    return out


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    for what, s in flush_cost(os.path.join(d, "flush-cost.bin")):
        print(f"64 KiB {what} + fdatasync: {s * 1e3:.3f} ms")
    for what, s in frame_writes_cost(os.path.join(d, "flush-cost.bin")):
        print(f"18-frame commit as {what}: {s * 1e6:.0f} us")
