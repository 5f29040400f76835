"""Read a maildrop with Python's poplib the way a header-first client does.

Logs in (USER/PASS or APOP; POP3S, STLS or plain), then runs CAPA, STAT, LIST, UIDL,
LIST n / UIDL n / TOP n 0 / TOP n LINES for every message, NOOP and QUIT, and prints
one JSON object with what the client saw:
  welcome, capa, stat [count, octets], list [[n, octets]...], uidl [[n, uid]...],
  single {n: {"list": "...", "uidl": "...", "top0": "...", "top": "..."}}, noop, quit
or, when a step fails, {"step": "...", "error": {"type", "message"}}. TOP texts are
decoded as UTF-8 with CRLF line ends. Exit status: 0 when every step succeeded.
"""
import argparse
import json
import poplib
import ssl
import sys


def decode(data):
    return data.decode("utf-8", "replace")


def text_of(lines):
    return "".join(decode(line) + "\r\n" for line in lines)


def context(args):
    if args.insecure:
        return ssl._create_unverified_context()
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.cafile:
        ctx.check_hostname = False  # we connect by IP; the certificate names the hostname
    return ctx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=["none", "stls", "tls"], default="tls")
    parser.add_argument("--auth", choices=["user", "apop"], default="user")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True, help="the password, or the APOP secret")
    parser.add_argument("--lines", type=int, default=2, help="body lines for TOP n LINES")
    parser.add_argument("--cafile")
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--timeout", type=float, default=15)
    args = parser.parse_args()

    result = {}
    step = "connect"
    client = None
    try:
        if args.security == "tls":
            client = poplib.POP3_SSL(args.host, args.port, timeout=args.timeout, context=context(args))
        else:
            client = poplib.POP3(args.host, args.port, timeout=args.timeout)
        result["welcome"] = decode(client.getwelcome())
        if args.security == "stls":
            step = "stls"
            client.stls(context=context(args))
        step = "capa"
        result["capa"] = {name: params for name, params in client.capa().items()}
        step = "auth"
        if args.auth == "apop":
            client.apop(args.user, args.password)
        else:
            client.user(args.user)
            client.pass_(args.password)
        step = "stat"
        result["stat"] = list(client.stat())
        step = "list"
        result["list"] = [[int(n), int(size)] for n, size in (decode(line).split(" ") for line in client.list()[1])]
        step = "uidl"
        result["uidl"] = [[int(n), uid] for n, uid in (decode(line).split(" ", 1) for line in client.uidl()[1])]
        result["single"] = {}
        for n, _ in result["list"]:
            step = "single %d" % n
            result["single"][str(n)] = {
                "list": decode(client.list(n)),
                "uidl": decode(client.uidl(n)),
                "top0": text_of(client.top(n, 0)[1]),
                "top": text_of(client.top(n, args.lines)[1]),
            }
        step = "noop"
        result["noop"] = decode(client.noop())
        step = "quit"
        result["quit"] = decode(client.quit())
        client = None
    except Exception as error:  # every failure is reported, never a traceback
        first = error.args[0] if error.args else None
        message = decode(first) if isinstance(first, bytes) else str(error)
        result["step"] = step
        result["error"] = {"type": type(error).__name__, "message": message}
    finally:
        if client is not None:
            client.close()
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
