"""A client's path argument, as the workspace's sandbox takes it: Windows forms read the way Windows reads them.

On Windows a path may use either separator, carry a drive, name a network share or a device, and Windows
quietly rewrites some names: ``.env.`` and ``.env `` open ``.env`` (trailing dots and spaces are dropped),
``NUL`` or ``con.txt`` in any folder is a device, and ``a.txt:stream`` is a hidden stream of ``a.txt``. Any of
these could reach a file by a name the deny rules never see, so they are refused with the reason; the rest
becomes one ``/``-separated path (absolute with its drive, or relative) for the sandbox's own checks
(``..`` and escapes are refused there, the same way on every platform). Elsewhere a backslash is a character
of a name, and the path is left as it is.
"""

from __future__ import annotations

import re
import sys

from volley.errors import InputError

_RESERVED = re.compile(r"^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9¹²³])(\..*)?$", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")


def client_path(path: str, windows: bool = sys.platform == "win32") -> str:
    """``path`` in the form the sandbox checks (see the module's docstring); InputError when Windows would read
    it as something else than a file or folder of that name."""
    if not windows:
        return path
    if path.startswith(("\\\\?\\", "\\\\.\\", "//?/", "//./", "\\??\\")):
        raise InputError(f"'{path}' is a device or extended-length path: give a path relative to the workspace root")
    if path.startswith(("\\\\", "//")):
        raise InputError(f"'{path}' is a network (UNC) path: give a path relative to the workspace root")
    unified = path.replace("\\", "/")
    drive = ""
    if _DRIVE.match(unified):
        drive, unified = unified[:2], unified[2:]
        if not unified.startswith("/"):
            raise InputError(
                f"'{path}' names a drive without a folder (relative to that drive's current folder): "
                "give a path relative to the workspace root, or a whole absolute path"
            )
    elif unified.startswith("/"):
        raise InputError(f"'{path}' is absolute without a drive: give a path relative to the workspace root")
    for part in unified.split("/"):
        if part in ("", ".", ".."):
            continue
        if part != part.rstrip(". "):
            raise InputError(
                f"'{path}': the name '{part}' ends in a dot or a space, which Windows drops (it would open another "
                "file): give the name without it"
            )
        if ":" in part:
            raise InputError(f"'{path}': '{part}' names a hidden stream of a file (the ':'): give the file's name")
        if _RESERVED.match(part):
            raise InputError(f"'{path}': '{part}' is a device name on Windows, not a file: choose another name")
        if any(ord(c) < 32 or c in '<>"|?*' for c in part):
            raise InputError(f"'{path}': '{part}' holds a character Windows does not allow in a name")
    return drive.upper() + unified if drive else unified
