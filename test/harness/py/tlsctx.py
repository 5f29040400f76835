"""TLS settings shared by the test clients.

kakitome's test instances use a self-signed certificate for their hostname, while
tests connect by loopback IP address. With --cafile the chain is verified against
that certificate but the name is not (the IP is not in the certificate); with
--insecure nothing is verified; with neither, Python's defaults apply, which is what
an ordinary user's client would do.
"""
import ssl


def add_tls_arguments(parser):
    parser.add_argument("--cafile", help="trust this CA/certificate file (name not checked)")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server certificate")


def client_context(args):
    if args.insecure:
        return ssl._create_unverified_context()
    context = ssl.create_default_context(cafile=args.cafile)
    if args.cafile:
        context.check_hostname = False
    return context


def describe_error(error):
    """A JSON-friendly description of an exception as a client would report it."""
    first = error.args[0] if error.args else None
    message = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(error)
    described = {"type": type(error).__name__, "message": message}
    code = getattr(error, "smtp_code", None)
    if code is not None:
        described["code"] = code
        text = getattr(error, "smtp_error", b"")
        described["message"] = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return described
