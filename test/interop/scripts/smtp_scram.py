#!/usr/bin/env python3
"""An independent SCRAM-SHA-256 client (RFC 5802, RFC 7677) over SMTP AUTH (RFC 4954), for the
interop tests: none of the stock clients (smtplib, curl, swaks, nodemailer) speaks it.

Only the Python standard library: hashlib.pbkdf2_hmac, hmac, and smtplib's docmd for the exchange

  C: AUTH SCRAM-SHA-256 <base64 client-first>     n,,n=<user>,r=<client nonce>
  S: 334 <base64 server-first>                    r=<nonce>,s=<salt>,i=<iterations>
  C: <base64 client-final>                        c=biws,r=<nonce>,p=<proof>
  S: 334 <base64 server-final>                    v=<server signature>  (verified here)
  C: (empty line)
  S: 235 2.7.0 ...

then sends a message. Reads a JSON job on stdin: host, port, mode ("ssl" or "starttls"), user,
password, from, to, message_b64 (optional), distrust_server (optional: cancel after the server
signature as if it did not verify). Prints one JSON result on stdout.

The password is used as UTF-8 without SASLprep: the test passwords are ASCII, where SASLprep is the
identity.
"""

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import sys


from scram_common import attributes, b64, hmac_sha256, saslname, text, tls_context, unb64



def scram_login(client, user, password, result, distrust_server=False):
    """Runs the exchange; fills result; returns True when the server accepted and was verified.

    distrust_server: act as a client that cannot verify v= (as it would against an impostor that
    does not know the ServerKey): it must cancel, and the server must not authenticate it.
    """
    steps = result["steps"]
    client_nonce = b64(os.urandom(24))
    gs2_header = "n,,"  # no channel binding, no authzid
    client_first_bare = "n=%s,r=%s" % (saslname(user), client_nonce)

    code, resp = client.docmd("AUTH", "SCRAM-SHA-256 " + b64((gs2_header + client_first_bare).encode("utf-8")))
    steps.append([code, text(resp)])
    if code != 334:
        result["auth_code"], result["auth_text"] = code, text(resp)
        return False
    server_first = unb64(resp).decode("utf-8")
    result["server_first"] = server_first
    attrs = attributes(server_first)
    if "m" in attrs:
        raise ValueError("mandatory extension in server-first: %r" % server_first)
    nonce, salt, iterations = attrs["r"], unb64(attrs["s"]), int(attrs["i"])
    result["iterations"] = iterations
    result["nonce_extends_ours"] = nonce.startswith(client_nonce) and len(nonce) > len(client_nonce)
    if not result["nonce_extends_ours"]:
        client.docmd("*")
        raise ValueError("server nonce does not extend the client nonce")

    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac_sha256(salted, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac_sha256(salted, b"Server Key")
    client_final_without_proof = "c=%s,r=%s" % (b64(gs2_header.encode("ascii")), nonce)
    auth_message = ",".join([client_first_bare, server_first, client_final_without_proof]).encode("utf-8")
    client_signature = hmac_sha256(stored_key, auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
    expected_server_signature = hmac_sha256(server_key, auth_message)

    code, resp = client.docmd(b64((client_final_without_proof + ",p=" + b64(proof)).encode("ascii")))
    steps.append([code, text(resp)])
    if code != 334:
        # a failure (535) before any server-final
        result["auth_code"], result["auth_text"] = code, text(resp)
        return False
    server_final = unb64(resp).decode("utf-8")
    result["server_final"] = server_final
    final = attributes(server_final)
    if "e" in final:
        client.docmd("*")
        result["server_error"] = final["e"]
        return False
    verified = hmac.compare_digest(unb64(final["v"]), expected_server_signature)
    result["server_signature_verified"] = verified
    if not verified or distrust_server:
        # The server does not know the password (or the test plays a client that thinks so): cancel (RFC 4954 §4) instead of completing.
        code, resp = client.docmd("*")
        steps.append([code, text(resp)])
        result["auth_code"], result["auth_text"] = code, text(resp)
        return False
    code, resp = client.docmd("")
    steps.append([code, text(resp)])
    result["auth_code"], result["auth_text"] = code, text(resp)
    return code == 235


def main():
    job = json.load(sys.stdin)
    result = {"ok": False, "tls": None, "ehlo_auth": None, "steps": [], "server_first": None, "server_final": None,
              "iterations": None, "nonce_extends_ours": None, "server_signature_verified": None,
              "auth_code": None, "auth_text": None, "mail_after_failure": None, "refused": None, "data_reply": None, "error": None}
    client = None
    try:
        if job.get("mode", "ssl") == "ssl":
            client = smtplib.SMTP_SSL(job["host"], job["port"], local_hostname="scram.interop.test",
                                      timeout=10, context=tls_context())
        else:
            client = smtplib.SMTP(job["host"], job["port"], local_hostname="scram.interop.test", timeout=10)
            client.starttls(context=tls_context())
        client.set_debuglevel(1)
        client.ehlo()
        result["tls"] = client.sock.version() if hasattr(client.sock, "version") else None
        result["ehlo_auth"] = client.esmtp_features.get("auth")
        success = scram_login(client, job["user"], job["password"], result, job.get("distrust_server", False))
        if not success:
            # whether the session is (wrongly) authenticated anyway
            code, resp = client.docmd("MAIL", "FROM:<%s>" % job["user"])
            result["mail_after_failure"] = [code, text(resp)]
        if success and job.get("message_b64"):
            raw = base64.b64decode(job["message_b64"])
            refused = client.sendmail(job["from"], job["to"], raw)
            result["refused"] = {k: [v[0], text(v[1])] for k, v in refused.items()}
            result["ok"] = True
        elif result["auth_code"] == 235:
            result["ok"] = True
        client.quit()
    except smtplib.SMTPResponseException as e:
        result["error"] = {"type": type(e).__name__, "code": e.smtp_code, "text": text(e.smtp_error)}
    except Exception as e:  # noqa: BLE001 - everything is reported to the test as JSON
        result["error"] = {"type": type(e).__name__, "text": str(e)}
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
