#!/usr/bin/env python3
"""Drives one imaplib session (Python's standard IMAP client) for the interop tests.

Reads a JSON job on stdin:

  {"host": "127.0.0.1", "port": 143, "mode": "plain" | "starttls" | "ssl",
   "steps": [["login", "user", "pass"], ["select", "INBOX"], ["fetch", "1", "(FLAGS)"], ...]}

runs each step as the imaplib call of that name and prints one JSON object on stdout:

  {"welcome": ..., "capabilities": [...], "capabilities_end": [...], "tls": "TLSv1.3" | null,
   "results": [{"op": ..., "typ": "OK", "data": [...]} | {"op": ..., "error": {"type", "text"}}]}

Bytes are written as latin1 strings (so the test gets them back exactly with Buffer.from(s, "latin1")),
tuples as lists. A step that raises is reported and the session goes on. The imaplib protocol trace
(imaplib.Debug = 4) goes to stderr.

Steps: capability, starttls, login user pass, authenticate_plain user pass, list [dir pattern],
select mailbox [readonly], examine mailbox, status mailbox names, search criteria..., fetch set parts,
store set command flags, copy set mailbox, expunge, append mailbox flags date_iso message_b64,
uid command args..., noop, check, close, logout, response code, has_idle.
"""

import base64
import datetime
import imaplib
import json
import ssl
import sys


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed
    return ctx


def enc(value):
    """JSON-safe: bytes as latin1 text (exactly reversible), tuples as lists."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin1")
    if isinstance(value, (list, tuple)):
        return [enc(v) for v in value]
    return value


def tls_version(client):
    sock = getattr(client, "sock", None)
    return sock.version() if isinstance(sock, ssl.SSLSocket) else None


def run_step(client, op, args):
    if op == "capability":
        return client.capability()
    if op == "starttls":
        return client.starttls(ssl_context=tls_context())
    if op == "login":
        return client.login(args[0], args[1])
    if op == "authenticate_plain":
        user, password = args
        return client.authenticate("PLAIN", lambda _challenge: ("\0%s\0%s" % (user, password)).encode("utf-8"))
    if op == "list":
        return client.list(*args)
    if op == "select":
        return client.select(args[0], bool(args[1]) if len(args) > 1 else False)
    if op == "examine":
        return client.select(args[0], True)
    if op == "status":
        return client.status(args[0], args[1])
    if op == "search":
        return client.search(None, *args)
    if op == "fetch":
        return client.fetch(args[0], args[1])
    if op == "store":
        return client.store(args[0], args[1], args[2])
    if op == "copy":
        return client.copy(args[0], args[1])
    if op == "expunge":
        return client.expunge()
    if op == "append":
        mailbox, flags, date_iso, message_b64 = args
        date = imaplib.Time2Internaldate(datetime.datetime.fromisoformat(date_iso)) if date_iso else None
        return client.append(mailbox, flags, date, base64.b64decode(message_b64))
    if op == "uid":
        return client.uid(*args)
    if op == "noop":
        return client.noop()
    if op == "check":
        return client.check()
    if op == "close":
        return client.close()
    if op == "logout":
        return client.logout()
    if op == "response":
        return client.response(args[0])
    if op == "has_idle":
        return ("OK", [hasattr(client, "idle")])
    raise ValueError("unknown step %r" % op)


def main():
    job = json.load(sys.stdin)
    imaplib.Debug = 4
    out = {"welcome": None, "capabilities": None, "capabilities_end": None, "tls": None, "results": []}
    mode = job.get("mode", "plain")
    try:
        if mode == "ssl":
            client = imaplib.IMAP4_SSL(job["host"], job["port"], ssl_context=tls_context(), timeout=10)
        else:
            client = imaplib.IMAP4(job["host"], job["port"], timeout=10)
    except Exception as e:  # noqa: BLE001 - reported to the test as JSON
        out["error"] = {"type": type(e).__name__, "text": str(e)}
        json.dump(out, sys.stdout)
        return
    out["welcome"] = enc(client.welcome)
    out["capabilities"] = list(client.capabilities)
    out["tls"] = tls_version(client)
    for step in job["steps"]:
        op, args = step[0], step[1:]
        entry = {"op": op}
        try:
            typ, data = run_step(client, op, args)
            entry["typ"] = typ
            entry["data"] = enc(data)
        except Exception as e:  # noqa: BLE001 - reported to the test as JSON
            entry["error"] = {"type": type(e).__name__, "text": str(e)}
        entry["state"] = client.state
        out["results"].append(entry)
        try:
            out["tls"] = tls_version(client) or out["tls"]
        except Exception:  # noqa: BLE001 - the socket is gone after LOGOUT
            pass
    out["capabilities_end"] = list(client.capabilities)
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - already closed by LOGOUT
        pass
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
