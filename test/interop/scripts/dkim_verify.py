#!/usr/bin/env python3
"""Verify every DKIM-Signature of a message with dkimpy (Debian's python3-dkim), an implementation
independent of Postamt's signer and of mailauth.

Usage: dkim_verify.py '{"sel._domainkey.example.com": "v=DKIM1; k=rsa; p=..."}' < message

The JSON argument answers the TXT lookups (no network). Prints one JSON object on stdout:
  {"results": [{"index": 0, "domain": "...", "selector": "...", "algorithm": "...",
                "ok": true|false, "error": null|"..."}, ...]}
Exit status 0 when it ran (whatever the verdicts), 77 when dkimpy (or PyNaCl, needed for ed25519)
cannot be imported, with the reason on stderr, so the caller can skip.
"""

import json
import re
import sys

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkimpy verifies ed25519-sha256 with PyNaCl)
except ImportError as e:
    sys.stderr.write("python3-dkim not importable (apt-get install python3-dkim): %s\n" % e)
    sys.exit(77)


def main():
    records = {k.lower().rstrip("."): v for k, v in json.loads(sys.argv[1]).items()}
    queried = []

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        name = name.lower().rstrip(".")
        queried.append(name)
        value = records.get(name)
        return value.encode("ascii") if value is not None else None

    message = sys.stdin.buffer.read()
    d = dkim.DKIM(message, minkey=1024)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    results = []
    for i, raw in enumerate(sigs):
        tags = dict(
            (m.group(1).decode(), re.sub(rb"\s+", b"", m.group(2)).decode())
            for m in re.finditer(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", raw)
        )
        entry = {
            "index": i,
            "domain": tags.get("d"),
            "selector": tags.get("s"),
            "algorithm": tags.get("a"),
            "ok": False,
            "error": None,
        }
        try:
            entry["ok"] = bool(dkim.DKIM(message, minkey=1024).verify(idx=i, dnsfunc=dnsfunc))
        except Exception as e:  # a DKIMException says why; anything else is reported too
            entry["error"] = "%s: %s" % (type(e).__name__, e)
        results.append(entry)
    json.dump({"results": results, "queried": queried}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
