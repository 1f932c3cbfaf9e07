"""One-line spec errors: the CLI prints exactly one line per failure, so every problem is folded into one.

Validators raise :func:`invalid` or :func:`required`; :func:`describe_validation_error` turns the first
error of a ``ValidationError`` into ``spec error: <field path> = <value>: allowed: <what is allowed>``.
"""

from __future__ import annotations

import inspect
import reprlib
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

INVALID = "spec_invalid"
REQUIRED = "spec_required"
REFUSED = "spec_refused"
VALUE_WIDTH = 60
PROBLEM_WIDTH = 200  # a parser's own message, which may quote the input

_ALLOWED_BY_TYPE = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
}


class SpecError(Exception):
    """A problem with the user's spec. ``str()`` is one line, fit to print as-is."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """Escape line breaks and other control characters, which could also forge extra output lines."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def brief_repr(value: object) -> str:
    """``repr`` cut to ``VALUE_WIDTH``, built from a bounded view of ``value`` (never the whole of a huge or
    alias-expanded value); never fails (huge ints refuse ``repr``)."""
    try:
        text = repr(value[: VALUE_WIDTH + 1]) if isinstance(value, str) else _BOUNDED.repr(value)
    except Exception:  # any object a parser produced must still be describable
        text = f"<{type(value).__name__}>"
    return brief_text(text)


def brief_text(text: str, width: int = VALUE_WIDTH) -> str:
    """``text`` cut to ``width`` characters."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _bounded_repr() -> reprlib.Repr:
    """A ``repr`` that looks at a few items, a few levels deep, and a prefix of each string or number."""
    bounded = reprlib.Repr()
    bounded.maxlevel, bounded.maxdict, bounded.maxlist, bounded.maxtuple, bounded.maxset = 3, 4, 6, 6, 6
    bounded.maxstring = bounded.maxother = bounded.maxlong = VALUE_WIDTH
    return bounded


_BOUNDED = _bounded_repr()


def invalid(allowed: str, at: str | None = None, value: object = None) -> PydanticCustomError:
    """A wrong value; ``allowed`` says what is right. A validator above the field passes ``at``/``value``."""
    ctx: dict[str, Any] = {"allowed": allowed}
    if at is not None:
        ctx |= {"at": at, "value": value}
    return PydanticCustomError(INVALID, "allowed: {allowed}", ctx)


def required(why: str, at: str) -> PydanticCustomError:
    """A value that only some targets need, raised from the model that knows the target."""
    return PydanticCustomError(REQUIRED, "{why}", {"why": why, "at": at})


def refused(why: str, at: str) -> PydanticCustomError:
    """A field a rule refuses in this spec (``why`` names the value and what to do), raised from the model that
    knows the rest of the spec."""
    return PydanticCustomError(REFUSED, "{why}", {"why": why, "at": at})


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """The one line for the first error of ``exc`` (validated against ``root``), counting the rest."""
    errors = exc.errors(include_url=False)
    line = f"spec error: {_describe(errors[0], root)}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more)"
    return one_line(line)


def _describe(error: ErrorDetails, root: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    path = _field_path(loc, ctx.get("at", ""))
    kind = error["type"]
    if kind == "missing":
        return f"{path}: required"
    if kind == "extra_forbidden":
        return f"{path}: unknown field; allowed fields: {_fields(root, loc[:-1])}"
    if kind in (REQUIRED, REFUSED):
        return f"{path}: {error['msg']}"
    value = ctx["value"] if "at" in ctx else error.get("input")
    if kind == INVALID:
        allowed = error["msg"]
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        allowed = f"allowed: a mapping with fields {_fields(root, loc)}"
    elif kind in _ALLOWED_BY_TYPE:
        allowed = f"allowed: {_ALLOWED_BY_TYPE[kind]}"
    else:
        allowed = error["msg"]
    return f"{path} = {brief_repr(value)}: {allowed}"


def _field_path(loc: tuple[int | str, ...], at: str = "") -> str:
    """``("storage", "volumes", 0, "mount")`` -> ``storage.volumes[0].mount``; ``at`` is appended."""
    text = ""
    for part in loc:  # a part may be a key the user wrote, of any length: each is cut
        part = part if isinstance(part, int) else brief_text(str(part))
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    if at:
        at = brief_text(at, PROBLEM_WIDTH)
        text += at if not text or at.startswith("[") else f".{at}"
    return text or "(top level)"


def _fields(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    model = _model_at(root, loc)
    if model is None:
        return "see the documentation"
    return ", ".join(_field_names(model)) or "none (this section takes no fields yet)"


def _field_names(model: type[BaseModel]) -> dict[str, str]:
    """Each field as the spec spells it (its alias, such as ``from``) -> its attribute name."""
    return {field.alias or name: name for name, field in model.model_fields.items()}


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the value at ``loc``, found by walking the field annotations."""
    annotation: Any = root
    for part in loc:
        annotation = _bare(annotation)
        if isinstance(part, int) and get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif _is_model(annotation) and part in _field_names(annotation):
            annotation = annotation.model_fields[_field_names(annotation)[str(part)]].annotation
        else:
            return None
    annotation = _bare(annotation)
    return annotation if _is_model(annotation) else None


def _bare(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _is_model(annotation: object) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)
