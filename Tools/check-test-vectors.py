#!/usr/bin/env python3
"""Checks Protocol/test-vectors.json against PROTOCOL.md, without paxsync's code.

An encoder written from the text of the protocol, in another language than the
implementation, so a digest or a verdict that only the Swift code agrees with
shows up here:

* every digest vector (section 9): the byte stream encoded from the vector's
  rows, its SHA-256, and the row order (key columns compared one by one as
  UTF-8 bytes, a prefix first);
* the text vectors (section 6): 1-200 Unicode scalar values, none of general
  category Cc;
* the entries: SHA-256 of each body, the prev_hash chain given in the vector.

Ed25519 is not in Python's standard library; the Swift suite checks signatures.

    python3 Tools/check-test-vectors.py [PATH]   # default Protocol/test-vectors.json

Exits 0 when every vector checks, 1 naming each one that does not.
"""

import hashlib
import json
import struct
import sys
import unicodedata
from pathlib import Path

TABLE_ORDER = ["facilities", "stocks", "shipments", "reserve_pledges"]
KEY_COLUMNS = {"facilities": 1, "stocks": 3, "shipments": 1, "reserve_pledges": 3}
COLUMNS = {
    "facilities": ["id", "owner", "name", "kind", "country", "latitude", "longitude"],
    "stocks": ["facility_id", "mineral", "form", "quantity_kg", "grade_pct", "as_of"],
    "shipments": ["id", "exporter", "mineral", "form", "quantity_kg", "from_facility", "to_facility",
                  "importer", "carrier", "departed_at", "eta", "arrived_at", "status"],
    "reserve_pledges": ["reserve_id", "mineral", "member", "share_kg"],
}

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def cell_bytes(cell):
    """One tagged vector cell (N, I:n, F:x, S:text) as section 9 encodes it."""
    if cell == "N":
        return b"N"
    tag, value = cell[:2], cell[2:]
    if tag == "I:":
        return b"I" + struct.pack(">q", int(value))
    if tag == "F:":
        x = float(value)
        if x == 0.0:
            x = 0.0  # -0.0 is written as +0.0
        return b"F" + struct.pack(">d", x)
    if tag == "S:":
        data = value.encode("utf-8")
        return b"S" + struct.pack(">I", len(data)) + data
    raise ValueError(f"{cell!r} is not a vector cell")


def digest(rows_by_table):
    """SHA-256 (hex) of the section 9 stream; rows_by_table maps a table to its rows of encoded cells."""
    stream = b"paxsync-state-v1\x00"
    for table in TABLE_ORDER:
        name = table.encode("utf-8")
        stream += b"T" + struct.pack(">I", len(name)) + name
        for row in rows_by_table.get(table, []):
            stream += b"R" + b"".join(row)
    return hashlib.sha256(stream).hexdigest()


def key_of(row, table):
    """The key columns' UTF-8 bytes, one element per column: Python compares
    such tuples column by column, and bytes with a prefix first."""
    return tuple(cell[2:].encode("utf-8") for cell in row[:KEY_COLUMNS[table]])


def check_tables(where, tables, digest_hex):
    names = [t["name"] for t in tables]
    if names != TABLE_ORDER:
        fail(where, f"tables {names} are not {TABLE_ORDER}")
        return
    rows_by_table = {}
    for t in tables:
        name = t["name"]
        if t["columns"] != COLUMNS[name]:
            fail(where, f"{name}: columns {t['columns']} are not {COLUMNS[name]}")
        keys = [key_of(row, name) for row in t["rows"]]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            fail(where, f"{name}: rows are not in key order (column by column, as bytes)")
        try:
            rows_by_table[name] = [[cell_bytes(c) for c in row] for row in t["rows"]]
        except ValueError as error:
            fail(where, f"{name}: {error}")
            return
    computed = digest(rows_by_table)
    if computed != digest_hex:
        fail(where, f"digest is {computed}, the vector says {digest_hex}")


def check_one_facility_digest(vector):
    """The first digest vector: facility rows as plain strings (5 text columns, 2 reals)."""
    rows = [[cell_bytes("S:" + c) for c in row[:5]] + [cell_bytes("F:" + c) for c in row[5:]] for row in vector["rows"]]
    computed = digest({"facilities": rows})
    if computed != vector["digestHex"]:
        fail("digest", f"digest is {computed}, the vector says {vector['digestHex']}")


def check_text(vectors):
    limit = vectors["maxScalars"]
    for v in vectors["values"]:
        where = f"text {v['description']!r}"
        try:
            text = bytes.fromhex(v["utf8Hex"]).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as error:
            fail(where, f"utf8Hex is not UTF-8: {error}")
            continue
        scalars = len(text)  # a Python str is a sequence of code points; valid UTF-8 holds scalar values only
        if scalars != v["scalars"]:
            fail(where, f"{scalars} scalars, the vector says {v['scalars']}")
        valid = 1 <= scalars <= limit and not any(unicodedata.category(ch) == "Cc" for ch in text)
        if valid != v["valid"]:
            fail(where, f"section 6 says {'valid' if valid else 'invalid'}, the vector says {'valid' if v['valid'] else 'invalid'}")


def check_hashes(where, entries, chained):
    for e in entries:
        body = bytes.fromhex(e["bodyHex"])
        if hashlib.sha256(body).hexdigest() != e["hashHex"]:
            fail(f"{where} {e['entry']}", "hashHex is not SHA-256 of the body")
    if chained:
        last = {}
        for e in entries:
            if not e["valid"]:
                continue
            origin = e["entry"].split(":")[0]
            if e["prevHashHex"] != last.get(origin, ""):
                fail(f"{where} {e['entry']}", "prevHashHex is not the hash of the origin's previous entry")
            last[origin] = e["hashHex"]


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "Protocol" / "test-vectors.json"
    vectors = json.loads(path.read_text(encoding="utf-8"))
    check_hashes("entries", vectors["entries"], chained=True)
    check_one_facility_digest(vectors["digest"])
    check_text(vectors["text"])
    check_tables("keyOrderDigest", vectors["keyOrderDigest"]["tables"], vectors["keyOrderDigest"]["digestHex"])
    state = vectors["state"]
    check_hashes("state", state["entries"], chained=False)
    check_tables("state", state["tables"], state["digestHex"])
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        print(f"{len(failures)} vector check(s) failed in {path}", file=sys.stderr)
        return 1
    print(f"every vector in {path} checks against PROTOCOL.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
