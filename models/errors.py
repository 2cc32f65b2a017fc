"""The one exception of the models package, and how values are shown in its messages."""


class ModelError(ValueError):
    """A workload description is invalid.

    The message is one line, ``<field>: <value> <problem> (expected <what>)``, so the CLI can print it
    as-is. Callers that know more context prepend it with :meth:`prefixed` (e.g. ``layer 'conv3'.``).
    """

    def __init__(self, message: object = "") -> None:
        from hwsim.models.reading import escape

        super().__init__(escape(message))  # a name from a file cannot forge a line or drive a terminal

    def prefixed(self, prefix: str) -> "ModelError":
        """The same error with ``prefix`` put in front of its message."""
        return ModelError(f"{prefix}{self}")


def show(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message about garbage input stays one short line."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
