"""A planned resource's inputs checked against the installed provider SDK: every key a property of the SDK's input
type at its level, every value of the kind that property declares, every enum-typed value one of its enum's.
Pulumi's mocks take any key; a real `up` does not.

A type token leads to its resource class through the tables every Pulumi SDK registers at import (resource modules
and packages, ``pulumi.runtime.rpc``); the class's own constructor names its args class (not always ``<Class>Args``:
``VirtualNetworkInitArgs`` where a nested type holds the plain name), whose ``pulumi.input_type`` metadata maps the
wire names (camelCase) to property types.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import re
import typing
from collections import abc
from typing import Any

from pulumi import _types
from pulumi.runtime import rpc

from targets.plan.mock_run import PlannedResource

# What the offline plan puts in place of a value it cannot show (a secret, an asset, a resource reference).
REDACTED = re.compile(r"\[\w+\]")
# Enums the SDK itself calls a deprecated, incomplete list: any value is accepted by the service.
OPEN_ENUMS = {"VirtualMachineSizeTypes"}  # "The enum data type is currently deprecated" (azure-native compute)
SCALARS: dict[type, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int, float), float: (int, float)}
_PLUMBING = (type(None),)


def args_type(type_token: str) -> type:
    """The ``pulumi.input_type`` class of a resource's (or a provider's) inputs, as the installed SDK defines it."""
    if type_token.startswith("pulumi:providers:"):
        package = rpc.get_resource_package(type_token.split(":")[2], "")
        info = getattr(package, "pkg_info", None)
        if info is None:
            raise LookupError(f"no installed SDK registers the provider {type_token}")
        cls = getattr(importlib.import_module(info["fqn"]), info["class"])
    else:
        package_name, module_name, _ = type_token.split(":")
        module = rpc.get_resource_module(package_name, module_name, "")
        info = getattr(module, "mod_info", None)
        if info is None or type_token not in info["classes"]:
            raise LookupError(f"no installed SDK registers the resource type {type_token}")
        cls = getattr(importlib.import_module(info["fqn"]), info["classes"][type_token])
    for overload in typing.get_overloads(cls.__init__):
        parameter = inspect.signature(overload).parameters.get("args")
        if parameter is not None:
            found = _types.unwrap_type(parameter.annotation)
            if isinstance(found, type) and _types.is_input_type(found):
                return found
    raise LookupError(f"{cls.__qualname__} names no input type in its constructor")


def problems(resource: PlannedResource) -> list[str]:
    """What the SDK would not accept of ``resource``'s inputs, one line each, naming the path to the value."""
    provider = resource.type.startswith("pulumi:providers:")
    return [f"{resource.type} {resource.name}: {line}"
            for line in _object(resource.inputs, args_type(resource.type), "", provider)]


def _object(value: Any, cls: type, path: str, provider: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path or 'inputs'}: {_kind(value)} where {cls.__name__} (an object) is expected"]
    names = set(_types.input_type_py_to_pulumi_names(cls).values())
    types = _types.input_type_types(cls)
    found = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in names:
            found.append(f"{where}: no such property in {cls.__name__} (it has {', '.join(sorted(names))})")
        elif key in types:
            found += _value(item, types[key], where, provider)
    return found


def _value(value: Any, typ: Any, path: str, provider: bool) -> list[str]:
    """``value`` against the declared ``typ`` (already stripped of Input and Optional by the SDK's tables)."""
    if value is None or (isinstance(value, str) and REDACTED.fullmatch(value)):
        return []
    typ = _types.unwrap_type(typ)
    if provider and isinstance(value, str) and typ is not str:
        value = _json(value)  # a provider's non-string inputs travel JSON-encoded
    origin = typing.get_origin(typ)
    if isinstance(typ, type) and _types.is_input_type(typ):
        return _object(value, typ, path, provider)
    if origin in (abc.Sequence, list):
        if not isinstance(value, list):
            return [f"{path}: {_kind(value)} where a list is expected"]
        item = typing.get_args(typ)[0]
        return [line for index, element in enumerate(value) for line in _value(element, item, f"{path}[{index}]",
                                                                                 provider)]
    if origin in (abc.Mapping, dict):
        if not isinstance(value, dict):
            return [f"{path}: {_kind(value)} where a map is expected"]
        item = typing.get_args(typ)[1]  # free keys (tags and the like); typed values
        return [line for key, element in value.items() for line in _value(element, item, f"{path}.{key}", provider)]
    if origin is typing.Union:
        return _union(value, [member for member in typing.get_args(typ) if _is_member(member)], path, provider)
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        return _in_enums(value, [typ], path)
    if typ in SCALARS:
        return _scalar(value, typ, path)
    return []  # Any, assets and archives: nothing the SDK declares to check against


def _union(value: Any, members: list[Any], path: str, provider: bool) -> list[str]:
    """A string where the SDK takes ``Union[str, SomeEnum]`` must still be one of the enum's (the SDK's ``str``
    is for values added to the service after the SDK was built, not for anything at all)."""
    enums = [member for member in members if isinstance(member, type) and issubclass(member, enum.Enum)]
    if enums and isinstance(value, str):
        return _in_enums(value, enums, path)
    checked = [_value(value, member, path, provider) for member in members]
    return [] if not checked or any(not lines for lines in checked) else checked[0]


def _in_enums(value: Any, enums: list[type[enum.Enum]], path: str) -> list[str]:
    if any(e.__name__ in OPEN_ENUMS for e in enums):
        return []
    allowed = sorted({str(item.value) for e in enums for item in e})
    if isinstance(value, str) and value in allowed:
        return []
    return [f"{path}: {_kind(value)} {value!r} is not one of {enums[0].__name__}: {', '.join(allowed)}"]


def _scalar(value: Any, typ: type, path: str) -> list[str]:
    fits = isinstance(value, SCALARS[typ]) and not (typ is not bool and isinstance(value, bool))
    if typ is int and fits and not float(value).is_integer():
        fits = False  # integers arrive as floats on the wire; a fraction is no integer
    return [] if fits else [f"{path}: {_kind(value)} {value!r} where {typ.__name__} is expected"]


def _is_member(member: Any) -> bool:
    """A union member that is a type a value can have, not the SDK's Input plumbing (None, Awaitable, Output)."""
    origin = typing.get_origin(member)
    return member not in _PLUMBING and origin is not abc.Awaitable and getattr(origin, "__name__", "") != "Output"


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
