"""Volley's exceptions: every failure a model could act on is one of these.

    VolleyError
    ├── PathError            a path the workspace refuses or cannot find
    │   ├── EscapeError      resolves outside the workspace
    │   ├── DeniedError      matches a deny rule (secrets)
    │   └── NotFoundError    does not exist, or is not the kind asked for
    ├── InputError           an argument is invalid (bad regex, absurd offset, ...)
    ├── ContentError         the file cannot be shown as text (binary, too large, unreadable)
    ├── ConfigError          the workspace configuration is invalid
    └── ToolchainError       no linter or test runner could be found or run

The server layer turns each into an MCP tool error (``isError``) carrying the message.
"""

from volley.text import valid_text


class VolleyError(Exception):
    """Base of every error Volley reports to a client (its message valid text: a name it quotes may hold bytes
    that are not UTF-8, and an answer must be JSON)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(valid_text(a) if isinstance(a, str) else a for a in args))


class PathError(VolleyError):
    pass


class EscapeError(PathError):
    pass


class DeniedError(PathError):
    pass


class NotFoundError(PathError):
    pass


class InputError(VolleyError):
    pass


class ContentError(VolleyError):
    pass


class ConfigError(VolleyError):
    pass


class ToolchainError(VolleyError):
    pass
