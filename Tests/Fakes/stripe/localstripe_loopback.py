#!/usr/bin/env python3
"""Runs localstripe (PyPI, a third-party Stripe fake) on 127.0.0.1 only, from scratch, for tests and the demo.

Run it with the python of the virtualenv ``ensure_localstripe`` makes (scripts/lib/common.sh), e.g.::

    "$LOCALSTRIPE_PYTHON" Tests/Fakes/stripe/localstripe_loopback.py --port 0

The first line on stdout is ``listening 127.0.0.1:PORT``; then it serves until SIGTERM, SIGINT or SIGKILL.
One line per request goes to stderr (method, path without query, status), never a key.

Why not localstripe's own command: ``localstripe --port N`` binds every interface (``::``), and its store
writes the shared file /tmp/localstripe.pickle after every write, ``--from-scratch`` or not (that flag only
skips *loading* it). Here the socket is bound to 127.0.0.1, the store is never loaded (as ``--from-scratch``
does: localstripe.server.start skips ``store.try_load_from_disk()``), and its ``dump_to_disk`` is replaced
by a no-op, so state lives in this process only and parallel runs cannot see each other.

It also gives the invoice, charge and refund lists Stripe's ``created`` filter (``created[gt|gte|lt|lte]``
or an exact ``created``), which localstripe refuses there (a 500 for invoices and refunds; for charges a 400
with two bounds, a 500 with one other than ``gt``).
"""

import argparse
import logging
import operator
import socket
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from localstripe import resources
from localstripe.errors import UserError
from localstripe.server import app

CREATED_BOUNDS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def created_matches(created, spec):
    """Stripe's ``created`` list filter: a time stamp, or bounds ``{"gte": ..., "lte": ...}``."""
    bounds = spec if isinstance(spec, dict) else {None: spec}
    for name, value in bounds.items():
        if name is not None and name not in CREATED_BOUNDS:
            raise UserError(400, f"Received unknown parameter: created[{name}]")
        try:
            bound = int(value)
        except (TypeError, ValueError):
            raise UserError(400, f"Invalid integer: {value}")
        if not (CREATED_BOUNDS[name] if name else operator.eq)(created, bound):
            return False
    return True


def accept_created_filter(cls):
    """``cls``'s list takes ``created`` as Stripe's does (filtered before paging)."""
    listed = cls.__dict__["_api_list_all"].__func__

    def list_all(klass, url, created=None, **kwargs):
        page = listed(klass, url, **kwargs)
        if created is not None:
            page._list = [obj for obj in page._list if created_matches(obj.created, created)]
        return page

    cls._api_list_all = classmethod(list_all)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Method, path and status: no query string (localstripe accepts keys in it), no headers."""

    def log(self, request, response, time):
        sys.stderr.write(f"localstripe {request.method} {request.path} -> {response.status} ({time * 1000:.0f} ms)\n")
        sys.stderr.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description="localstripe on 127.0.0.1 only, from scratch, no pickle file.")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (printed first)")
    args = ap.parse_args(argv)

    resources.Store.dump_to_disk = lambda self: None  # never write /tmp/localstripe.pickle
    resources.Store.try_load_from_disk = lambda self: None  # nor read it (from scratch)
    for cls in (resources.Invoice, resources.Charge, resources.Refund):
        accept_created_filter(cls)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    sys.stdout.write(f"listening {host}:{port}\n")
    sys.stdout.flush()
    sys.stderr.write(f"localstripe on {host}:{port} (from scratch, nothing persisted)\n")
    sys.stderr.flush()
    # run_app handles SIGINT and SIGTERM (graceful exit); print=None keeps its banner off stdout.
    web.run_app(app, sock=sock, print=None, access_log_class=PathOnlyAccessLogger,
                access_log=logging.getLogger("aiohttp.access"), shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
