"""`skbdrop schema [NAME]`: print one of the shipped JSON Schemas (draft 2020-12); without
NAME, list them."""
from __future__ import annotations

from analyzer import schemas
from analyzer.errors import InputError
from analyzer.formats.atomic import write_output


def command(args) -> int:
    name = getattr(args, "name", None)
    if not name:
        write_output(getattr(args, "output", "-"), "\n".join(schemas.names()) + "\n")
        return 0
    try:
        text = schemas.text(name)
    except KeyError:
        raise InputError(f"schema: unknown schema {name!r}; one of: "
                         + ", ".join(schemas.names())) from None
    write_output(getattr(args, "output", "-"), text)
    return 0
