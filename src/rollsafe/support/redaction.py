"""Name a database in messages without its password, whatever form its address takes.

Addresses reach rollsafe as libpq URLs (``postgresql://user:pw@host/db?...``),
as ``key=value`` connection strings (``host=db password=pw``) or as SQLite
paths, typed by hand and so sometimes malformed: an unclosed ``[``, a bad
``%`` escape, an unescaped ``@`` in the password. libpq's own error messages
quote the whole text, so nothing here parses with libpq: `redacted` works on
the text, and errs towards hiding too much rather than too little.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlencode

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
"""libpq parameters that are secrets: never shown, stored or put on a command line."""

# key = value in a connection string; a quoted value may hold spaces and \' escapes,
# and an unterminated quote runs to the end (all of it hidden). Words without "=" after
# an unquoted value are the rest of a password that should have been quoted.
_SECRET_SETTING = re.compile(
    r"(?i)(?<![\w.])(?:ssl)?password\s*=\s*"
    r"(?:'(?:\\.|[^'\\])*'?|(?:\\.|\S)*(?:\s+[^\s=]+(?=\s|$))*)\s*"
)
_PLAIN_HOST = re.compile(r"^[A-Za-z0-9.-]+$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_postgres_url(address: object) -> bool:
    """True for text starting ``postgresql://`` or ``postgres://``, well formed or not.

    A malformed URL is still a PostgreSQL address: it must be refused as one (without
    echoing it), not mistaken for a SQLite file name.
    """
    return isinstance(address, str) and address.startswith(POSTGRES_SCHEMES)


def redacted(address: str) -> str:
    """``address`` fit for messages and logs: any password in it is left out.

    A URL (of any scheme) loses the password of its user part (everything from
    the user's ``:`` to the last ``@``) and its query from the first
    ``password``/``sslpassword`` parameter on; a connection string loses its
    ``password=`` settings. Other text (a SQLite path) is returned as it is.
    """
    if not _URL.match(address):  # any scheme: POSTGRESQL:// is a typo of a URL, not a path
        hidden, count = _SECRET_SETTING.subn("", address)
        return hidden.strip() if count else address
    scheme, rest = address.split("://", 1)
    # Query parameters first: a password= value may hold an @.
    rest = _without_secret_parameters(rest)
    # Then the user part, up to the last @ anywhere: a password may hold @, / or ?. An @
    # in the query (rare) makes this hide more than the password, never less.
    credentials, at, after = rest.rpartition("@")
    if at and ":" in credentials:
        user = credentials.split(":", 1)[0]
        rest = f"{user}@{after}" if user else after
    return f"{scheme}://{rest}"


UNPARSABLE = "invalid PostgreSQL URL or connection string (not shown: it may hold a password)"
"""The message for an address libpq cannot parse: libpq's own quotes the whole text."""
AMBIGUOUS = (
    "invalid PostgreSQL URL: escape an @ or / in the user or password as %40 or %2F"
    " (not shown: it may hold a password)"
)


def ambiguous_credentials(url: str) -> bool:
    """True when a URL's user or password holds an unescaped ``@`` or ``/``.

    libpq ends the user part at the first ``@`` or ``/``, so the rest of such a
    password becomes the host name, which its errors then print. Refuse these
    instead (escape them as ``%40`` and ``%2F``), with the message ``AMBIGUOUS``.
    """
    if not is_postgres_url(url):
        return False
    head = url.split("://", 1)[1].split("?", 1)[0]
    return head.count("@") > 1 or ("@" in head and "/" in head[: head.rindex("@")])


def url_without_secrets(params: Mapping[str, str]) -> str:
    """A libpq URL reaching the same database with the same options as parsed ``params``
    (from libpq's conninfo parser), minus the secrets: a canonical name for a database."""
    rest = {key: value for key, value in params.items() if key not in SECRET_PARAMETERS}
    user, host = rest.pop("user", ""), rest.pop("host", "")
    dbname, port = rest.pop("dbname", ""), rest.pop("port", "")
    netloc = f"{quote(user, safe='')}@" if user else ""
    # A socket directory, several hosts or an IPv6 address go in the query, where libpq
    # takes them without the URL escaping rules of the authority part.
    if _PLAIN_HOST.match(host) and (not port or port.isdigit()):
        netloc += host + (f":{port}" if port else "")
    else:
        rest.update({key: value for key, value in (("host", host), ("port", port)) if value})
    query = f"?{urlencode(sorted(rest.items()))}" if rest else ""
    return f"postgresql://{netloc}/{quote(dbname, safe='')}{query}"


def _without_secret_parameters(rest: str) -> str:
    """The URL after its scheme, its query cut at the first secret parameter.

    A password holding an unescaped ``&`` runs on into what looks like the next
    parameters, so nothing after the secret is kept. Every ``?`` starts a candidate
    query: a password holding ``?`` must not hide a ``password=`` parameter after it.
    """
    if "?" not in rest:
        return rest
    head, query = rest.split("?", 1)
    kept = []
    for pair in query.split("&"):
        if unquote(pair.split("=", 1)[0]).strip().lower() in SECRET_PARAMETERS:
            break
        kept.append(pair)
    return f"{head}?{_without_secret_parameters('&'.join(kept))}" if kept else head
