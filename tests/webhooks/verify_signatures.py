#!/usr/bin/env python3
"""Verify a captured likeness webhook with the reference Standard Webhooks
libraries: every live secret must verify the delivery as sent, and no secret
may verify it once one byte of the body has changed.

Usage: verify_signatures.py CAPTURE.json
CAPTURE.json: {"secrets": [...], "headers": {...}, "body_base64": "..."}
Needs: pip install standardwebhooks svix (scripts/requirements-test.txt).
"""

import base64
import json
import sys

try:
    from standardwebhooks.webhooks import Webhook as StandardWebhook
    from svix.webhooks import Webhook as SvixWebhook
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit(
        f"missing verifier library ({e}): run "
        "`pip install -r scripts/requirements-test.txt` and put that venv first on PATH"
    )


def verifies(cls, secret, body, headers):
    try:
        cls(secret).verify(body, dict(headers))
        return True
    except Exception:  # both libraries raise their own verification errors
        return False


def main(path):
    capture = json.load(open(path))
    body = base64.b64decode(capture["body_base64"])
    headers = capture["headers"]
    tampered = bytearray(body)
    # Change one byte inside the JSON (a digit or letter), keeping it valid UTF-8.
    i = len(tampered) // 2
    tampered[i] = ord("x") if tampered[i] != ord("x") else ord("y")
    tampered = bytes(tampered)
    failures = []
    for name, cls in (("standardwebhooks", StandardWebhook), ("svix", SvixWebhook)):
        for n, secret in enumerate(capture["secrets"]):
            if not verifies(cls, secret, body, headers):
                failures.append(f"{name}: secret #{n} does not verify the delivery")
            if verifies(cls, secret, tampered, headers):
                failures.append(f"{name}: secret #{n} verifies a changed body")
        if not failures:
            print(f"{name}: ok ({len(capture['secrets'])} secrets)")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
