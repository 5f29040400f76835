#!/usr/bin/python3
"""Verifies every DKIM-Signature of the message on stdin with dkimpy (Debian's
python3-dkim), an implementation independent of kakitome's signer and of mailauth.

Usage: dkim_verify.py RECORDS.json < message
RECORDS.json maps DNS names to the character-strings of their TXT record, as a zone
file holds them: {"sel._domainkey.example.test": ["v=DKIM1; k=rsa; p=MIIB...", "..."]}.
The strings are concatenated as RFC 6376 section 3.6.2.2 says. No real DNS is asked.

Prints one JSON object: {"signatures": [{"d", "s", "a", "ok", "log"}, ...]}.
"""
import json
import logging
import sys

import dkim


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        records = {name.rstrip(".").lower(): strings for name, strings in json.load(f).items()}
    message = sys.stdin.buffer.read()

    def dnsfunc(name, timeout=5):
        key = (name.decode("ascii") if isinstance(name, bytes) else name).rstrip(".").lower()
        strings = records.get(key)
        return None if strings is None else "".join(strings).encode("utf-8")

    results = []
    count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature")
    for idx in range(count):
        handler = Collect()
        logger = logging.getLogger("dkim%d" % idx)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        verifier = dkim.DKIM(message, logger=logger, minkey=1024)
        sig = dkim.util.parse_tag_value(
            [value for name, value in verifier.headers if name.lower() == b"dkim-signature"][idx])
        try:
            ok = bool(verifier.verify(idx=idx, dnsfunc=dnsfunc))
        except dkim.DKIMException as e:
            handler.lines.append("%s: %s" % (type(e).__name__, e))
            ok = False
        results.append({
            "d": sig.get(b"d", b"").decode(),
            "s": sig.get(b"s", b"").decode(),
            "a": sig.get(b"a", b"").decode(),
            "ok": ok,
            "log": [line for line in handler.lines if "error" in line.lower() or "fail" in line.lower() or "Exception" in line][-3:],
        })
    print(json.dumps({"signatures": results}))


if __name__ == "__main__":
    main()
