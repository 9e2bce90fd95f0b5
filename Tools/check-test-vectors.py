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
* the entries: SHA-256 of each body, the prev_hash chain given in the vector;
* sync-vectors.json (section 13): each message's bytes re-encoded from its proto3
  JSON form with the field numbers of paxsync_sync.proto, and an advertising
  heartbeat read by a reader that skips the field it does not know (13.6);
* genesis-vectors.json (section 2.2): the genesis body re-encoded from the
  vector's fields with the field numbers of paxsync_log.proto, and the
  coalition id as its SHA-256, in the vector and in the genesis file;
* rotation-vectors.json (section 3.4): the hashes and the chain across a key rotation.
* governance-vectors.json (section 3.5): each governance entry's body re-encoded from its
  fields, the hashes, the approvals' references, and when the quorum decides the admission.

Ed25519 is not in Python's standard library; the Swift suite checks signatures.

    python3 Tools/check-test-vectors.py [PATH]   # default Protocol/test-vectors.json

Exits 0 when every vector checks, 1 naming each one that does not.
"""

import base64
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
            if not e.get("valid", e.get("verdict", "applied") == "applied"):
                continue
            origin = e["entry"].split(":")[0]
            if e["prevHashHex"] != last.get(origin, ""):
                fail(f"{where} {e['entry']}", "prevHashHex is not the hash of the origin's previous entry")
            last[origin] = e["hashHex"]


# Field numbers of Protocol/paxsync_sync.proto and paxsync_log.proto's Dependency:
# (name, number, kind) with kind "string", "varint", "bool", or a message schema.
DEPENDENCY = [("origin", 1, "string"), ("seq", 2, "varint")]
SYNC_MESSAGE = [
    ("hello", 1, [("node_id", 1, "string"), ("protocol_version", 2, "varint"), ("schema_version", 3, "varint"),
                  ("version_vector", 4, DEPENDENCY), ("coalition_id", 5, "bytes")]),
    ("entries", 2, [("entries", 1, [("body", 1, "bytes"), ("signature", 2, "bytes")]), ("caught_up", 2, "bool")]),
    ("ack", 3, [("version_vector", 1, DEPENDENCY)]),
    ("heartbeat", 4, [("sent_at_ms", 1, "varint"), ("version_vector", 2, DEPENDENCY)]),
    ("goodbye", 5, [("reason", 1, "string")]),
]


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(value, schema, is_oneof=False):
    """proto3 encoding of a JSON-mapped message: fields in number order, defaults omitted
    (a oneof member is written even when empty)."""
    out = bytearray()
    for name, number, kind in schema:
        if name not in value:
            continue
        items = value[name] if isinstance(value[name], list) else [value[name]]
        for item in items:
            if isinstance(kind, list):
                inner = encode(item, kind)
                out += varint(number << 3 | 2) + varint(len(inner)) + inner
            elif kind == "string":
                data = item.encode("utf-8")
                if data:
                    out += varint(number << 3 | 2) + varint(len(data)) + data
            elif kind == "bytes":
                data = base64.b64decode(item)
                if data:
                    out += varint(number << 3 | 2) + varint(len(data)) + data
            elif kind == "bool":
                if item:
                    out += varint(number << 3) + b"\x01"
            else:
                n = int(item)
                if n:
                    out += varint(number << 3) + varint(n)
    return bytes(out)


def read_varint(data, i):
    """The varint at data[i:], and the index after it."""
    n, shift = 0, 0
    while True:
        b = data[i]; i += 1
        n |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80:
            return n, i


def read_fields(data):
    """(number, wire type, value) of each field, as any proto3 reader sees them."""
    i, fields = 0, []
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            n, i = read_varint(data, i)
            fields.append((number, wire, n))
        elif wire == 2:
            n, i = read_varint(data, i)
            fields.append((number, wire, data[i:i + n])); i += n
        else:
            raise ValueError(f"wire type {wire}")
    return fields


MEMBER = [("id", 1, "string"), ("country", 2, "string"), ("name", 3, "string"), ("signing_key", 4, "bytes"),
          ("address", 5, "string"), ("tls_pin", 6, "bytes")]
GENESIS = [("format_version", 1, "varint"), ("coalition", 2, "string"), ("created_at_ms", 3, "varint"),
           ("members", 4, MEMBER), ("quorum_numerator", 5, "varint"), ("quorum_denominator", 6, "varint")]


def b64(hex_text):
    return base64.b64encode(bytes.fromhex(hex_text)).decode()


def check_genesis(path):
    v = json.loads(path.read_text(encoding="utf-8"))
    where = "genesis"
    genesis = {
        "format_version": 1, "coalition": v["coalition"], "created_at_ms": v["createdAtMs"],
        "members": [{"id": f["id"], "country": f["country"], "name": f["name"], "signing_key": b64(f["publicKeyHex"]),
                     "address": f["address"], "tls_pin": b64(f["tlsPinHex"])} for f in v["founders"]],
        "quorum_numerator": v["quorumNumerator"], "quorum_denominator": v["quorumDenominator"],
    }
    body = encode(genesis, GENESIS)
    if body.hex() != v["bodyHex"]:
        fail(where, f"bodyHex is not the encoding of the vector's fields: expected {body.hex()}")
    if hashlib.sha256(body).hexdigest() != v["coalitionIdHex"]:
        fail(where, "coalitionIdHex is not the SHA-256 of the body")
    file = json.loads(v["file"])
    if base64.b64decode(file["body"]).hex() != v["bodyHex"] or file.get("coalitionId") != v["coalitionIdHex"]:
        fail(where, "the genesis file does not hold the vector's body and coalition id")
    if {m: base64.b64decode(sig).hex() for m, sig in file["signatures"].items()} != {f["id"]: f["signatureHex"] for f in v["founders"]}:
        fail(where, "the genesis file does not hold the founders' signatures of the vector")


ENTRY_REF = [("origin", 1, "string"), ("seq", 2, "varint"), ("hash", 3, "bytes")]
GOVERNANCE = [
    ("proposal", 1, [("admit", 1, MEMBER), ("suspend", 2, "string"), ("reinstate", 3, "string"),
                     ("remove", 4, [("member", 1, "string"), ("cut_seq", 2, "varint")]),
                     ("quorum", 5, [("numerator", 1, "varint"), ("denominator", 2, "varint")]),
                     ("void", 6, ENTRY_REF),
                     ("revoke", 7, [("member", 1, "string"), ("from_seq", 2, "varint"), ("new_key", 3, "bytes")]),
                     ("resolve", 8, ENTRY_REF), ("reason", 10, "string")]),
    ("approval", 2, [("proposal", 1, ENTRY_REF)]),
]
CHANGE_SET = [("format_version", 1, "varint"), ("origin", 2, "string"), ("seq", 3, "varint"), ("hlc", 4, "varint"),
              ("prev_hash", 5, "bytes"), ("schema_version", 6, "varint"), ("deps", 7, DEPENDENCY), ("note", 9, "string"),
              ("governance", 11, GOVERNANCE)]


def check_governance(path):
    v = json.loads(path.read_text(encoding="utf-8"))
    check_hashes("governance", v["entries"], chained=True)
    by_entry = {e["entry"]: e for e in v["entries"]}
    proposals, approvals, decided = {}, {}, None
    for e in v["entries"]:
        where = f"governance {e['entry']}"
        if not e["fields"]:
            continue
        fields = json.loads(e["fields"])
        body = encode(fields, CHANGE_SET)
        if body.hex() != e["bodyHex"]:
            fail(where, f"bodyHex is not the encoding of the entry's fields: expected {body.hex()}")
        if fields["format_version"] != 3:
            fail(where, "a governance entry is format 3")
        action = fields["governance"]
        if "proposal" in action:
            proposals[e["entry"]] = {e["entry"].split(":")[0]}
        elif e["verdict"] == "applied":
            ref = action["approval"]["proposal"]
            name = f"{ref['origin']}:{ref['seq']}"
            if base64.b64decode(ref["hash"]).hex() != by_entry[name]["hashHex"]:
                fail(where, "the approval does not name the proposal's hash")
            if int(dict((d["origin"], d["seq"]) for d in fields["deps"]).get(ref["origin"], 0)) < ref["seq"]:
                fail(where, "the proposal is not in the approval's causal past")
            approvals.setdefault(name, set()).add(fields["origin"])
            counted = proposals[name] | approvals[name]
            # A decision once approvals x denominator > active x numerator (section 3.5).
            if decided is None and len(counted) * v["quorumDenominator"] > len(v["founders"]) * v["quorumNumerator"]:
                decided = e["entry"]
    if decided != v["decidedBy"]:
        fail("governance", f"the quorum is reached at {decided}, not {v['decidedBy']}")


def check_sync(path):
    vectors = json.loads(path.read_text(encoding="utf-8"))
    for v in vectors["messages"]:
        where = f"sync {v['name']}"
        message = json.loads(v["json"])
        if len(message) != 1:
            fail(where, "a SyncMessage sets exactly one kind")
            continue
        expected = encode(message, SYNC_MESSAGE)
        if expected.hex() != v["hex"]:
            fail(where, f"hex is not the encoding of its json: expected {expected.hex()}")
        # A receiver that knows only sent_at_ms (section 13.6) reads an advertising
        # heartbeat as a heartbeat: field 4 of SyncMessage, field 1 inside, the rest skipped.
        if "heartbeat" in message:
            (number, wire, inner), = read_fields(bytes.fromhex(v["hex"]))
            known = [value for n, w, value in read_fields(inner) if n == 1 and w == 0]
            if number != 4 or known != [int(message["heartbeat"].get("sent_at_ms", 0))]:
                fail(where, "a reader skipping unknown fields does not see the same heartbeat")


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
    sync_path = path.parent / "sync-vectors.json"
    check_sync(sync_path)
    genesis_path = path.parent / "genesis-vectors.json"
    check_genesis(genesis_path)
    rotation = json.loads((path.parent / "rotation-vectors.json").read_text(encoding="utf-8"))
    check_hashes("rotation", rotation["entries"], chained=True)
    check_governance(path.parent / "governance-vectors.json")
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        print(f"{len(failures)} vector check(s) failed in {path}", file=sys.stderr)
        return 1
    print(f"every vector in {path}, {sync_path}, {genesis_path}, rotation-vectors.json and governance-vectors.json checks against PROTOCOL.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
