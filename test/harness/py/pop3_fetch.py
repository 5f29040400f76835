"""Log in to a POP3 server with Python's poplib and read the maildrop.

Prints one JSON object with what the client saw, step by step:
  welcome, capa (before STLS, when --security stls), capa_tls, stat [count, octets],
  list [[n, octets]...], uidl [[n, uid]...], messages [{"n", "text"}], deleted [n...]
and, when a step fails, {"step": "...", "error": {...}}. Message text is decoded
as UTF-8 (invalid bytes replaced) with CRLF line ends.
Exit status: 0 when every step succeeded, 1 otherwise.
"""
import argparse
import json
import poplib
import sys

from tlsctx import add_tls_arguments, client_context, describe_error


def decode(line):
    return line.decode("utf-8", "replace")


def parse_pairs(lines):
    pairs = []
    for line in lines:
        number, value = decode(line).split(" ", 1)
        pairs.append([int(number), value])
    return pairs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=["none", "stls", "tls"], default="tls")
    parser.add_argument("--auth", choices=["user", "apop"], default="user")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True, help="the password, or the APOP secret")
    parser.add_argument("--no-retr", action="store_true", help="do not download the messages")
    parser.add_argument("--delete", action="store_true", help="delete every message after reading")
    parser.add_argument("--timeout", type=float, default=15)
    add_tls_arguments(parser)
    args = parser.parse_args()

    result = {}
    step = "connect"
    client = None
    try:
        if args.security == "tls":
            client = poplib.POP3_SSL(args.host, args.port, timeout=args.timeout, context=client_context(args))
        else:
            client = poplib.POP3(args.host, args.port, timeout=args.timeout)
        result["welcome"] = decode(client.getwelcome())
        if args.security == "stls":
            step = "capa"
            result["capa"] = sorted(client.capa())
            step = "stls"
            client.stls(context=client_context(args))
        step = "capa_tls" if args.security != "none" else "capa"
        result[step] = sorted(client.capa())
        step = "auth"
        if args.auth == "apop":
            client.apop(args.user, args.password)
        else:
            step = "user"
            client.user(args.user)
            step = "pass"
            client.pass_(args.password)
        step = "stat"
        result["stat"] = list(client.stat())
        step = "list"
        result["list"] = [[n, int(size)] for n, size in parse_pairs(client.list()[1])]
        step = "uidl"
        result["uidl"] = parse_pairs(client.uidl()[1])
        if not args.no_retr:
            step = "retr"
            result["messages"] = [{"n": n, "text": "\r\n".join(decode(line) for line in client.retr(n)[1]) + "\r\n"}
                                  for n, _ in result["list"]]
        if args.delete:
            step = "dele"
            result["deleted"] = []
            for n, _ in result["list"]:
                client.dele(n)
                result["deleted"].append(n)
        step = "quit"
        result["quit"] = decode(client.quit())
        client = None
    except Exception as error:  # every failure is reported, never a traceback
        result["step"] = step
        result["error"] = describe_error(error)
    finally:
        if client is not None:
            client.close()
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
