"""Whether a failure means the database cannot be reached right now (refused or dropped
connection, too many clients, a server starting or shutting down, a pool with no connection
free in time, a locked or unopenable SQLite file), as opposed to a fault in a request or in our
code. The web layers answer the first with a 503 ("try again in a moment"), never a 500: it is
the state of the service, not a bug, and a client may retry."""

from __future__ import annotations

import socket

from sqlalchemy import exc as sa

#: SQLSTATE classes and codes of a server that refuses work: 08 connection exception, 53
#: insufficient resources (53300 too many connections), 57P01-57P03 shutdown or starting up.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03")


def is_database_unavailable(error: BaseException) -> bool:
    """True for a database that refuses or lost the connection, whichever driver says so."""
    if isinstance(error, sa.TimeoutError):  # the pool had no connection free in time
        return True
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated or isinstance(
            error, (sa.OperationalError, sa.InterfaceError)
        ):
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    # asyncpg raises the socket's own errors when it cannot connect at all.
    return isinstance(error, (ConnectionError, TimeoutError, socket.gaierror))
