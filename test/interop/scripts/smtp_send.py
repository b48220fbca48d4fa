#!/usr/bin/env python3
"""Sends one message with Python's smtplib, as an independent SMTP client for the interop tests.

Reads a JSON job on stdin and prints one JSON result on stdout (the smtplib debug transcript goes
to stderr). The job:

  host, port        where to connect (the tests only ever use 127.0.0.1)
  mode              "plain" (SMTP), "starttls" (SMTP + starttls()), "ssl" (SMTP_SSL)
  auth              null, or {user, password, method, initial_response_ok}
                    method "login" uses SMTP.login(); "PLAIN"/"LOGIN" use SMTP.auth() with
                    auth_plain/auth_login and the given initial_response_ok
  api               "sendmail" (exact bytes) or "send_message" (parsed with the email package;
                    sender and recipients taken from the headers unless given)
  from, to          envelope (to: a list); may be null with send_message
  message_b64       the RFC 5322 message
  mail_options      extra MAIL FROM parameters (e.g. ["BODY=8BITMIME"])

The result: ok, ehlo (code, features), tls (protocol version or null), commands (verbs sent,
without secrets), auth (code, text), refused ({rcpt: [code, text]}), sent_b64 (the exact bytes
smtplib handed to DATA, before dot-stuffing), data_reply, error ({type, code, text, recipients}).
"""

import base64
import email
import email.policy
import json
import smtplib
import ssl
import sys


VERBS = {"ehlo", "helo", "starttls", "mail", "rcpt", "data", "bdat", "rset", "noop", "quit", "vrfy", "expn", "help"}


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


def make_client_class(base):
    class Recording(base):
        """Records the command verbs sent and the message bytes given to DATA."""

        def __init__(self, *args, **kwargs):
            self.commands = []
            self.sent = None
            self.data_reply = None
            super().__init__(*args, **kwargs)

        def putcmd(self, cmd, args=""):
            verb = cmd.lower()
            if verb == "auth":
                words = args.split()
                # the mechanism, and whether an initial response went with it (never the secret)
                self.commands.append("AUTH " + words[0] + (" <initial-response>" if len(words) > 1 else ""))
            elif verb in VERBS:
                self.commands.append((cmd + " " + args).strip())
            else:
                self.commands.append("<sasl-response>")  # an AUTH continuation line: may carry secrets
            super().putcmd(cmd, args)

        def data(self, msg):
            self.sent = bytes(msg)
            code, resp = super().data(msg)
            self.data_reply = [code, text(resp)]
            return code, resp

    return Recording


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed
    return ctx


def main():
    job = json.load(sys.stdin)
    result = {"ok": False, "ehlo": None, "tls": None, "commands": [], "auth": None, "refused": None,
              "sent_b64": None, "data_reply": None, "error": None}
    mode = job.get("mode", "plain")
    timeout = job.get("timeout", 10)
    client = None
    try:
        if mode == "ssl":
            client = make_client_class(smtplib.SMTP_SSL)(job["host"], job["port"], local_hostname="python.interop.test",
                                                        timeout=timeout, context=tls_context())
        else:
            client = make_client_class(smtplib.SMTP)(job["host"], job["port"], local_hostname="python.interop.test",
                                                    timeout=timeout)
        client.set_debuglevel(1)
        code, _ = client.ehlo()
        if mode == "starttls":
            client.starttls(context=tls_context())
            code, _ = client.ehlo()
        if hasattr(client.sock, "version"):
            result["tls"] = client.sock.version()
        result["ehlo"] = {"code": code, "features": client.esmtp_features}

        auth = job.get("auth")
        if auth:
            method = auth.get("method", "login")
            if method == "login":
                code, resp = client.login(auth["user"], auth["password"])
            else:
                client.user, client.password = auth["user"], auth["password"]
                authobject = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login}[method]
                code, resp = client.auth(method, authobject, initial_response_ok=auth.get("initial_response_ok", True))
            result["auth"] = {"code": code, "text": text(resp)}

        raw = base64.b64decode(job["message_b64"])
        options = job.get("mail_options", [])
        if job.get("api", "sendmail") == "send_message":
            msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
            refused = client.send_message(msg, from_addr=job.get("from"), to_addrs=job.get("to"), mail_options=options)
        else:
            refused = client.sendmail(job["from"], job["to"], raw, mail_options=options)
        result["refused"] = {k: [v[0], text(v[1])] for k, v in refused.items()}
        result["ok"] = True
        client.quit()
    except smtplib.SMTPRecipientsRefused as e:
        result["error"] = {"type": type(e).__name__,
                           "recipients": {k: [v[0], text(v[1])] for k, v in e.recipients.items()}}
    except smtplib.SMTPResponseException as e:
        result["error"] = {"type": type(e).__name__, "code": e.smtp_code, "text": text(e.smtp_error)}
    except Exception as e:  # noqa: BLE001 - everything is reported to the test as JSON
        result["error"] = {"type": type(e).__name__, "text": str(e)}
    finally:
        if client is not None:
            result["commands"] = client.commands
            if client.sent is not None:
                result["sent_b64"] = base64.b64encode(client.sent).decode("ascii")
            result["data_reply"] = client.data_reply
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
