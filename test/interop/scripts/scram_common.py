"""Pieces shared by the independent SCRAM-SHA-256 test clients (smtp_scram.py, imap_scram.py):
encoding helpers and the RFC 5802 message parsing. Standard library only."""

import base64
import hashlib
import hmac
import ssl


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


def saslname(name):
    # RFC 5802 §5.1: "=" and "," are escaped in the user name
    return name.replace("=", "=3D").replace(",", "=2C")


def attributes(message):
    """Parses "a=value,b=value" (values may contain "=")."""
    out = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ValueError("malformed attribute %r" % part)
        out[part[0]] = part[2:]
    return out


def hmac_sha256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed
    return ctx


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)
