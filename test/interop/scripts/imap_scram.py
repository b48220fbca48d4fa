#!/usr/bin/env python3
"""An independent SCRAM-SHA-256 client (RFC 5802, RFC 7677) over IMAP AUTHENTICATE (RFC 9051 §6.2.2),
for the interop tests: imaplib, curl and imapflow do not speak it.

Only the Python standard library: hashlib.pbkdf2_hmac, hmac, and imaplib's authenticate(), which calls
the "authobject" with each decoded server challenge and sends what it returns, base64-encoded:

  C: AUTHENTICATE SCRAM-SHA-256
  S: +                                            (empty: imaplib sends no initial response)
  C: <base64 client-first>                        n,,n=<user>,r=<client nonce>
  S: + <base64 server-first>                      r=<nonce>,s=<salt>,i=<iterations>
  C: <base64 client-final>                        c=biws,r=<nonce>,p=<proof>
  S: + <base64 server-final>                      v=<server signature>  (verified here)
  C: (empty line)                                 returned as b""; None would cancel with "*"
  S: tag OK ...

Reads a JSON job on stdin: host, port, mode ("ssl", "starttls" or "plain"), user, password,
distrust_server (optional: cancel after the server signature as a client that could not verify it
would). Prints one JSON result on stdout; imaplib's protocol trace (imaplib.Debug = 4) goes to stderr.

The password is used as UTF-8 without SASLprep: the test passwords are ASCII, where SASLprep is the
identity.
"""

import base64
import hashlib
import hmac
import imaplib
import json
import os
import ssl
import sys


from scram_common import attributes, b64, hmac_sha256, saslname, text, tls_context, unb64



class Scram:
    """imaplib's authobject: called with each decoded challenge, returns the response (or None)."""

    def __init__(self, user, password, result, distrust_server=False):
        self.user = user
        self.password = password
        self.result = result
        self.distrust_server = distrust_server
        self.step = 0
        self.client_nonce = b64(os.urandom(24))
        self.gs2_header = "n,,"  # no channel binding, no authzid
        self.client_first_bare = "n=%s,r=%s" % (saslname(user), self.client_nonce)
        self.expected_server_signature = None

    def __call__(self, challenge):
        self.step += 1
        self.result["challenges"].append(text(challenge))
        if self.step == 1:
            # the empty "+ " that asks for the initial response
            if challenge:
                raise ValueError("unexpected data in the first challenge: %r" % challenge)
            return (self.gs2_header + self.client_first_bare).encode("utf-8")
        if self.step == 2:
            server_first = challenge.decode("utf-8")
            self.result["server_first"] = server_first
            attrs = attributes(server_first)
            if "m" in attrs:
                raise ValueError("mandatory extension in server-first: %r" % server_first)
            nonce, salt, iterations = attrs["r"], unb64(attrs["s"]), int(attrs["i"])
            self.result["iterations"] = iterations
            self.result["nonce_extends_ours"] = nonce.startswith(self.client_nonce) and len(nonce) > len(
                self.client_nonce
            )
            if not self.result["nonce_extends_ours"]:
                return None  # cancel
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode("utf-8"), salt, iterations)
            client_key = hmac_sha256(salted, b"Client Key")
            stored_key = hashlib.sha256(client_key).digest()
            server_key = hmac_sha256(salted, b"Server Key")
            client_final_without_proof = "c=%s,r=%s" % (b64(self.gs2_header.encode("ascii")), nonce)
            auth_message = ",".join([self.client_first_bare, server_first, client_final_without_proof]).encode(
                "utf-8"
            )
            client_signature = hmac_sha256(stored_key, auth_message)
            proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
            self.expected_server_signature = hmac_sha256(server_key, auth_message)
            return (client_final_without_proof + ",p=" + b64(proof)).encode("ascii")
        if self.step == 3:
            server_final = challenge.decode("utf-8")
            self.result["server_final"] = server_final
            final = attributes(server_final)
            if "e" in final:
                self.result["server_error"] = final["e"]
                return None
            verified = hmac.compare_digest(unb64(final["v"]), self.expected_server_signature)
            self.result["server_signature_verified"] = verified
            if not verified or self.distrust_server:
                return None  # imaplib sends "*": the exchange is cancelled
            return b""
        raise ValueError("unexpected challenge %d: %r" % (self.step, challenge))


def main():
    job = json.load(sys.stdin)
    imaplib.Debug = 4
    result = {
        "ok": False,
        "tls": None,
        "capabilities": None,
        "challenges": [],
        "server_first": None,
        "server_final": None,
        "iterations": None,
        "nonce_extends_ours": None,
        "server_signature_verified": None,
        "auth": None,
        "select_after": None,
        "error": None,
    }
    client = None
    try:
        mode = job.get("mode", "ssl")
        if mode == "ssl":
            client = imaplib.IMAP4_SSL(job["host"], job["port"], ssl_context=tls_context(), timeout=10)
        else:
            client = imaplib.IMAP4(job["host"], job["port"], timeout=10)
            if mode == "starttls":
                client.starttls(ssl_context=tls_context())
        result["capabilities"] = list(client.capabilities)
        if isinstance(client.sock, ssl.SSLSocket):
            result["tls"] = client.sock.version()
        mechanism = Scram(job["user"], job["password"], result, job.get("distrust_server", False))
        try:
            typ, data = client.authenticate("SCRAM-SHA-256", mechanism)
            result["auth"] = {"typ": typ, "text": text(data[0])}
            result["ok"] = typ == "OK"
        except imaplib.IMAP4.error as e:
            result["auth"] = {"typ": "error", "text": str(e)}
        # Whether the session is authenticated now, asked of the server: imaplib's own state check
        # would refuse SELECT before a successful login, so it is told the state is AUTH.
        state = client.state
        client.state = "AUTH"
        try:
            typ, data = client._simple_command("SELECT", "INBOX")
            result["select_after"] = {"typ": typ, "text": text(data[0])}
        except imaplib.IMAP4.error as e:
            result["select_after"] = {"typ": "error", "text": str(e)}
        client.state = state
        client.logout()
    except Exception as e:  # noqa: BLE001 - everything is reported to the test as JSON
        result["error"] = {"type": type(e).__name__, "text": str(e)}
    finally:
        if client is not None:
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001 - already closed by LOGOUT
                pass
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
