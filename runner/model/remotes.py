"""How a remote's URL is shown and recorded: without its user part, ever.

A token is often written where the user name goes (``https://ghp_x@host/r``)
or as the password (``https://user:ghp_x@host/r``); the user part is dropped
whole, so no spelling of a credential reaches a manifest, a record or a message.
"""

from __future__ import annotations

import re

# git's scp-like form: [user@]host:path, with no slash before the colon
_SCP_LIKE = re.compile(r"^(?P<user>[^/@:]*(?::[^/@]*)?@)(?P<host>[^/:]+:)(?!//)")


def without_credentials(url: str) -> str:
    """``url`` with its user part (user name, password, token) removed.

    ``https://user:token@host/r`` and ``https://token@host/r`` become
    ``https://host/r``; ``git@host:org/r`` becomes ``host:org/r``. A local
    path and a URL without a user part come back unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            authority = authority.rpartition("@")[2]
        return f"{scheme}://{authority}{slash}{path}"
    return _SCP_LIKE.sub(r"\g<host>", url, count=1)
