#!/usr/bin/python3
"""The lab's mail and webhook host: runs in the client's network namespace.

  :25   plain SMTP relay (what a local relay looks like)
  :587  submission: STARTTLS required, then AUTH required
  :465  SMTPS: TLS from the first byte, then AUTH required
  :2525 a mail server that hangs: connections are taken, never answered
  :8080 HTTP webhook sink: POST /hook stores the body and answers 200;
        POST /status/NNN answers NNN and stores nothing (a broken endpoint)

Every accepted message goes into one Maildir, with headers saying how it came
(X-Lab-Listener: plain|starttls|smtps, X-Lab-Login: the user it logged in
as), so tests can check that coldspare really used TLS and its credentials.
The certificate is the lab's own (a lab CA that nothing on the host trusts).

usage: mailhost.py ADDRESS RUNDIR
RUNDIR holds mail/ (Maildir), webhook/, tls/{server.pem,server.key} and
client/etc/smtp-credentials (user name, then password, one per line).
"""

import http.server
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

ADDRESS, RUN = sys.argv[1], sys.argv[2]
with open(os.path.join(RUN, "client", "etc", "smtp-credentials")) as f:
    USER, PASSWORD = f.read().splitlines()[:2]


class Labelled(Mailbox):
    """A Maildir handler that records which listener took the message."""

    def __init__(self, listener):
        super().__init__(os.path.join(RUN, "mail"))
        self.listener = listener

    def prepare_message(self, session, envelope):
        message = super().prepare_message(session, envelope)
        message["X-Lab-Listener"] = self.listener
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            message["X-Lab-Login"] = session.auth_data.login.decode(errors="replace")
        return message


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode(errors="replace") == USER
        and auth_data.password.decode(errors="replace") == PASSWORD
    )
    print(f"smtp AUTH {mechanism}: {'accepted' if ok else 'refused'}", flush=True)
    # handled=False: aiosmtpd answers 235 or 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
        elif self.path == "/hook":
            code = 200
            name = os.path.join(RUN, "webhook", f"{time.time_ns()}.json")
            with open(name + ".tmp", "wb") as f:
                f.write(body)
            os.rename(name + ".tmp", name)
        else:
            code = 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        print("webhook " + fmt % args, flush=True)


def main():
    # AUTH without STARTTLS on the SMTPS port is deliberate: it is TLS already.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    os.makedirs(os.path.join(RUN, "webhook"), exist_ok=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(os.path.join(RUN, "tls", "server.pem"), os.path.join(RUN, "tls", "server.key"))
    auth = dict(authenticator=authenticator, auth_required=True)
    controllers = [
        Controller(Labelled("plain"), hostname=ADDRESS, port=25),
        Controller(Labelled("starttls"), hostname=ADDRESS, port=587,
                   tls_context=tls, require_starttls=True, **auth),
        # The connection is TLS from the first byte: AUTH needs no STARTTLS.
        Controller(Labelled("smtps"), hostname=ADDRESS, port=465,
                   ssl_context=tls, auth_require_tls=False, **auth),
    ]
    for c in controllers:
        c.start()
    # Listening but never accepting: the kernel completes the handshake and
    # the client waits for a greeting that never comes.
    hung = socket.create_server((ADDRESS, 2525), backlog=16)
    web = http.server.ThreadingHTTPServer((ADDRESS, 8080), Sink)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=web.shutdown).start())
    print(f"mailhost on {ADDRESS}: smtp 25, submission 587 (STARTTLS), smtps 465, webhook 8080", flush=True)
    web.serve_forever()
    for c in controllers:
        c.stop()
    hung.close()


if __name__ == "__main__":
    main()
