"""Send one message with Python's smtplib, as a user's mail client would.

The message (RFC 5322 text) is read from stdin. Prints one JSON object:
  {"ok": true, "ehlo": {"code": 250, "features": [...]}, "refused": {...}}
or, on failure, {"ok": false, "step": "...", "error": {...}}.
Exit status: 0 sent (possibly with some recipients refused), 1 refused or failed.
"""
import argparse
import json
import smtplib
import sys

from tlsctx import add_tls_arguments, client_context, describe_error


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--helo", default="client.test")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--mail-from", required=True)
    parser.add_argument("--rcpt", action="append", required=True)
    parser.add_argument("--timeout", type=float, default=15)
    add_tls_arguments(parser)
    args = parser.parse_args()
    message = sys.stdin.buffer.read()

    result = {"ok": False}
    step = "connect"
    client = None
    try:
        if args.security == "tls":
            client = smtplib.SMTP_SSL(args.host, args.port, local_hostname=args.helo,
                                      timeout=args.timeout, context=client_context(args))
        else:
            client = smtplib.SMTP(args.host, args.port, local_hostname=args.helo, timeout=args.timeout)
        step = "ehlo"
        code, _ = client.ehlo()
        if args.security == "starttls":
            step = "starttls"
            client.starttls(context=client_context(args))
            code, _ = client.ehlo()
        result["ehlo"] = {"code": code, "features": sorted(client.esmtp_features)}
        if args.user is not None:
            step = "auth"
            client.login(args.user, args.password or "")
        step = "send"
        refused = client.sendmail(args.mail_from, args.rcpt, message)
        result["refused"] = {rcpt: [code, text.decode("utf-8", "replace")] for rcpt, (code, text) in refused.items()}
        result["ok"] = True
        step = "quit"
        client.quit()
    except Exception as error:  # every failure is reported, never a traceback
        if step != "quit":
            result["ok"] = False
            result["step"] = step
            result["error"] = describe_error(error)
            if isinstance(error, smtplib.SMTPRecipientsRefused):
                result["refused"] = {rcpt: [code, text.decode("utf-8", "replace")]
                                     for rcpt, (code, text) in error.recipients.items()}
    finally:
        if client is not None:
            client.close()
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
