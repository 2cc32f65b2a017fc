"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""
from __future__ import annotations


class HwsimError(ValueError):
    """Bad input. `what` names the field, the value and what was expected; `where` names the source."""

    def __init__(self, what: str, where: str = "") -> None:
        from hwsim.models.reading import escape

        what, where = escape(what), escape(where)  # user- and file-controlled text stays one visible line
        self.what = what
        self.where = where
        super().__init__(f"{what} ({where})" if where else what)


class ConfigError(HwsimError):
    """A bad architecture spec or preset name."""
