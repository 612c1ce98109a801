#!/usr/bin/env python3
"""Generates edge-vectors.json: known-answer vectors for the parsing and tolerance edges of
X-Kirim-Signature, computed from the wire contract alone (Python's hmac, hashlib, base64 and json;
nothing from the Rust code).

    python3 kirim-verify/tests/vectors/generate_edge_vectors.py

rewrites edge-vectors.json next to this script. The output is deterministic: running it again
must leave the committed file unchanged.
"""

import base64
import hashlib
import hmac
import json
import os

NOW = 1716480000
SECRET = "whsec_test"
ROTATING = "whsec_rotating"
BODY = (
    b'{"id":"evt_01HXYZABCDEFGHJKMNPQRSTVWX","type":"contact.created",'
    b'"created_at":"2026-05-23T10:00:00Z","livemode":true,"data":{}}'
)
MAX_HEADER_BYTES = 8192

vectors = []


def sig(secret, t, body=BODY):
    """v1 for the signed payload `t` "." body; `t` is used exactly as given (a str keeps its
    leading zeros), the key is the whole secret string as UTF-8."""
    payload = str(t).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def add(name, header, expect, secrets=(SECRET,), now=NOW, tolerance=300, body=BODY, matched=None):
    vector = {
        "name": name,
        "secrets": list(secrets),
        "tolerance_s": tolerance,
        "now": now,
        "header": header,
        "body_b64": base64.b64encode(body).decode("ascii"),
        "expect": expect,
    }
    if matched is not None:
        vector["matched_secret"] = matched
    vectors.append(vector)


GOOD = sig(SECRET, NOW)
OTHER = sig("whsec_unknown", NOW)

# Whitespace around elements is trimmed; inside keys and values it is not.
add("spaces around elements", f" t={NOW} , v1={GOOD} ", "accept", matched=0)
add("tabs around elements", f"\tt={NOW}\t,\tv1={GOOD}\t", "accept", matched=0)
add("mixed blanks and empty elements", f" \t,t={NOW}, ,\t,v1={GOOD},, ", "accept", matched=0)
add("space between key and = makes an unknown key", f"t ={NOW},v1={GOOD}", "malformed_header")
add("space after = is part of t", f"t= {NOW},v1={GOOD}", "malformed_header")
add("space after = is part of v1", f"t={NOW},v1= {GOOD}", "malformed_header")
add("other whitespace (newline) is not trimmed", f"t={NOW},\nv1={GOOD}", "malformed_header")

# Hex case.
add("uppercase hex", f"t={NOW},v1={GOOD.upper()}", "accept", matched=0)
add("mixed-case hex", f"t={NOW},v1={GOOD[:32].upper()}{GOOD[32:]}", "accept", matched=0)

# Unknown keys and elements without '=' are ignored.
add("unknown keys v0 v2 foo", f"v0=abc,t={NOW},v2=zz,foo=bar,v1={GOOD}", "accept", matched=0)
add("elements without =", f"t={NOW},hello,v1={GOOD},t,v1", "accept", matched=0)
add("unknown key with empty value and bare =", f"t={NOW},x=,=,=y,v1={GOOD}", "accept", matched=0)
add("unknown v0 carrying the valid signature only", f"t={NOW},v0={GOOD}", "malformed_header")
add("v1 value split at the first =", f"t={NOW},v1=={GOOD}", "malformed_header")
add("empty v1", f"t={NOW},v1=,v1={GOOD}", "malformed_header")

# Keys are case-sensitive.
add("uppercase T is an unknown key: missing t", f"T={NOW},v1={GOOD}", "malformed_header")
add("uppercase V1 is an unknown key: missing v1", f"t={NOW},V1={GOOD}", "malformed_header")
add("uppercase V1 next to a valid v1 is ignored", f"t={NOW},V1=zz,v1={GOOD}", "accept", matched=0)

# Rotation and bounds on the number of v1.
ROTATION_SECRETS = ["whsec_old", "whsec_middle", "whsec_Zm9v", "whsec_newest"]
fifteen_wrong = [sig(f"whsec_not-configured-{i}", NOW) for i in range(15)]
last_match = sig(ROTATION_SECRETS[-1], NOW)
sixteen = ",".join(f"v1={s}" for s in fifteen_wrong + [last_match])
add(
    "16 v1, match in the last from the last secret",
    f"t={NOW},{sixteen}",
    "accept",
    secrets=ROTATION_SECRETS,
    matched=3,
)
add(
    "16 v1 with unknown elements between them",
    f"t={NOW}," + ",".join(f"v1={s},v0=x" for s in fifteen_wrong + [last_match]),
    "accept",
    secrets=ROTATION_SECRETS,
    matched=3,
)
add(
    "16 v1, none matching",
    f"t={NOW}," + ",".join(f"v1={s}" for s in fifteen_wrong + [OTHER]),
    "no_match",
    secrets=ROTATION_SECRETS,
)
add(
    "17 v1 is malformed even with a match",
    f"t={NOW},{sixteen},v1={last_match}",
    "malformed_header",
    secrets=ROTATION_SECRETS,
)
add(
    "17 v1 is malformed even when all match",
    f"t={NOW}," + ",".join([f"v1={GOOD}"] * 17),
    "malformed_header",
)
add(
    "two secrets both matching: the first wins",
    f"t={NOW},v1={sig(ROTATING, NOW)},v1={GOOD}",
    "accept",
    secrets=[SECRET, ROTATING],
    matched=0,
)
add(
    "unknown v1 first, known second",
    f"t={NOW},v1={OTHER},v1={sig(ROTATING, NOW)}",
    "accept",
    secrets=[SECRET, ROTATING],
    matched=1,
)
add(
    "valid v1 next to a malformed v1",
    f"t={NOW},v1={GOOD},v1=xyz",
    "malformed_header",
)

# Header length: 8192 bytes accepted, 8193 refused.
def padded(length):
    head = f"t={NOW},v1={GOOD},x="
    header = head + "a" * (length - len(head))
    assert len(header.encode("ascii")) == length
    return header


add("header of exactly 8192 bytes", padded(MAX_HEADER_BYTES), "accept", matched=0)
add("header of 8193 bytes", padded(MAX_HEADER_BYTES + 1), "malformed_header")

# The t element.
add("duplicate t", f"t={NOW},t={NOW},v1={GOOD}", "malformed_header")
add("duplicate t after v1", f"t={NOW},v1={GOOD},t={NOW}", "malformed_header")
add("missing t", f"v1={GOOD}", "malformed_header")
add("empty t", f"t=,v1={GOOD}", "malformed_header")
T19 = f"{NOW:019d}"
assert len(T19) == 19
add("t with 19 digits (leading zeros)", f"t={T19},v1={sig(SECRET, T19)}", "accept", matched=0)
T19_MAX = "9" * 19
add(
    "t with 19 digits, far future",
    f"t={T19_MAX},v1={sig(SECRET, T19_MAX)}",
    "too_new",
)
T20 = f"{NOW:020d}"
add("t with 20 digits", f"t={T20},v1={sig(SECRET, T20)}", "malformed_header")
add("t of 20 nines", f"t={'9' * 20},v1={GOOD}", "malformed_header")
add("t with +", f"t=+{NOW},v1={sig(SECRET, '+' + str(NOW))}", "malformed_header")
add("t with -", f"t=-{NOW},v1={GOOD}", "malformed_header")
add("t with an inner space", f"t=17164 80000,v1={GOOD}", "malformed_header")
add("t with a decimal point", f"t={NOW}.0,v1={GOOD}", "malformed_header")
add("t in hex", f"t=0x{NOW:x},v1={GOOD}", "malformed_header")
add("t with fullwidth digits", "t=\uff11\uff17,v1=" + GOOD, "malformed_header")
add("t of zero", f"t=0,v1={sig(SECRET, 0)}", "accept", now=0, matched=0)

# Leading zeros: the signed payload is the t digits exactly as received.
PADDED_T = "000" + str(NOW)
add(
    "leading zeros in t, signed as received",
    f"t={PADDED_T},v1={sig(SECRET, PADDED_T)}",
    "accept",
    matched=0,
)
add(
    "leading zeros in t, signed over the number without them",
    f"t={PADDED_T},v1={GOOD}",
    "no_match",
)
add(
    "no leading zeros in t, signed over a zero-padded t",
    f"t={NOW},v1={sig(SECRET, PADDED_T)}",
    "no_match",
)

# The v1 element.
add("v1 of 63 hex digits", f"t={NOW},v1={GOOD[:63]}", "malformed_header")
add("v1 of 65 hex digits", f"t={NOW},v1={GOOD}0", "malformed_header")
add("v1 of 62 hex digits", f"t={NOW},v1={GOOD[:62]}", "malformed_header")
add("v1 of 66 hex digits", f"t={NOW},v1={GOOD}00", "malformed_header")
add("v1 with a non-hex digit", f"t={NOW},v1={GOOD[:63]}g", "malformed_header")
add("v1 with an inner space", f"t={NOW},v1={GOOD[:32]} {GOOD[33:]}", "malformed_header")
add("v1 in base64", f"t={NOW},v1=" + base64.b64encode(bytes.fromhex(GOOD)).decode(), "malformed_header")
add("no v1", f"t={NOW}", "malformed_header")
add("empty header", "", "malformed_header")
add("only commas and blanks", " , ,\t,", "malformed_header")

# Tolerance, exactly at the limit and one beyond.
add("exactly 300 s old", f"t={NOW},v1={GOOD}", "accept", now=NOW + 300, matched=0)
add("301 s old", f"t={NOW},v1={GOOD}", "too_old", now=NOW + 301)
add("exactly 300 s ahead", f"t={NOW},v1={GOOD}", "accept", now=NOW - 300, matched=0)
add("301 s ahead", f"t={NOW},v1={GOOD}", "too_new", now=NOW - 301)
add("tolerance 0, same second", f"t={NOW},v1={GOOD}", "accept", tolerance=0, matched=0)
add("tolerance 0, 1 s old", f"t={NOW},v1={GOOD}", "too_old", tolerance=0, now=NOW + 1)
add("tolerance 0, 1 s ahead", f"t={NOW},v1={GOOD}", "too_new", tolerance=0, now=NOW - 1)
add("tolerance 60, exactly 60 s old", f"t={NOW},v1={GOOD}", "accept", tolerance=60, now=NOW + 60, matched=0)
add("tolerance 60, 61 s old", f"t={NOW},v1={GOOD}", "too_old", tolerance=60, now=NOW + 61)
add("stale and unsigned", f"t={NOW},v1={OTHER}", "reject_any", now=NOW + 3600)
add("signature moved to another t", f"t={NOW + 1},v1={GOOD}", "no_match")

# The key is the whole secret string, prefix and '=' padding included, never decoded.
PADDED_SECRET = "whsec_Zm9vYmFyYg=="
add(
    "secret with = padding as key",
    f"t={NOW},v1={sig(PADDED_SECRET, NOW)}",
    "accept",
    secrets=[PADDED_SECRET],
    matched=0,
)
add(
    "secret with = inside",
    f"t={NOW},v1={sig('whsec_a=b=c', NOW)}",
    "accept",
    secrets=["whsec_a=b=c"],
    matched=0,
)
add(
    "keyed with the base64-decoded secret",
    f"t={NOW},v1="
    + hmac.new(base64.b64decode("Zm9vYmFyYg=="), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest(),
    "no_match",
    secrets=[PADDED_SECRET],
)
add(
    "keyed without the whsec_ prefix",
    f"t={NOW},v1=" + hmac.new(b"Zm9vYmFyYg==", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest(),
    "no_match",
    secrets=[PADDED_SECRET],
)
add(
    "secret with non-ASCII UTF-8",
    f"t={NOW},v1={sig('whsec_clé-ünïcode', NOW)}",
    "accept",
    secrets=["whsec_clé-ünïcode"],
    matched=0,
)

# Bodies: raw bytes, no UTF-8 requirement.
NON_UTF8 = b'{"id":"evt_1","data":"\xff\xfe\x00\x80\xc3\x28"}'
add("non-UTF-8 body", f"t={NOW},v1={sig(SECRET, NOW, NON_UTF8)}", "accept", body=NON_UTF8, matched=0)
add("empty body", f"t={NOW},v1={sig(SECRET, NOW, b'')}", "accept", body=b"", matched=0)
add("empty body, header signed over another body", f"t={NOW},v1={GOOD}", "no_match", body=b"")
add(
    "body with a trailing newline added",
    f"t={NOW},v1={GOOD}",
    "no_match",
    body=BODY + b"\n",
)
BIG = bytes(range(256)) * 64
add("16 KiB binary body", f"t={NOW},v1={sig(SECRET, NOW, BIG)}", "accept", body=BIG, matched=0)

names = [v["name"] for v in vectors]
assert len(names) == len(set(names)), "vector names must be unique"

out = {
    "about": (
        "Edge-case known-answer vectors for X-Kirim-Signature (parsing rules, bounds, tolerance "
        "limits, key handling), generated by generate_edge_vectors.py with Python's hmac module "
        "from the rules in the wire contract. Same format as signature-vectors.json: expect is "
        "one of accept, malformed_header, no_match, too_old, too_new, reject_any; matched_secret "
        "is the index into secrets."
    ),
    "vectors": vectors,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "edge-vectors.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(vectors)} vectors to {path}")
