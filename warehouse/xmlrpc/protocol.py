"""XML-RPC on the wire: requests in, responses and faults out, arguments checked.

The stdlib's ``xmlrpc.client`` does the (un)marshalling. Everything a client can get wrong
becomes a :class:`xmlrpc.client.Fault` with one of the codes of the common XML-RPC
fault-code convention, so clients always get a parseable answer, never an HTTP 500.
"""

from __future__ import annotations

import datetime
import inspect
import re
import typing
import xmlrpc.client
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape as _escape
from xmlrpc.client import Fault

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32500

# Calls are a method name and a few scalars; anything bigger is not a call we serve.
MAX_REQUEST_BYTES = 256 * 1024

# Characters XML 1.0 cannot carry at all (not even escaped); a description may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_I4_MIN, _I4_MAX = -(2**31), 2**31 - 1


class Marshalled(bytes):
    """A complete, already marshalled ``methodResponse`` document (see the cached methods)."""


def too_large() -> Fault:
    return Fault(INVALID_REQUEST, f"request too large: at most {MAX_REQUEST_BYTES} bytes")


def parse_call(body: bytes) -> tuple[str, tuple]:
    """The method name and parameters of a ``methodCall`` document."""
    if len(body) > MAX_REQUEST_BYTES:
        raise too_large()
    if b"<!DOCTYPE" in body:
        # XML-RPC has no use for a DTD, and refusing it refuses entity tricks with it.
        raise Fault(INVALID_REQUEST, "DTDs are not allowed in XML-RPC requests")
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception as exc:  # noqa: BLE001 - expat, ValueError, ResponseError, ...
        raise Fault(
            PARSE_ERROR, f"parse error: not a well-formed XML-RPC request ({exc})"
        ) from None
    if not method:
        raise Fault(INVALID_REQUEST, "invalid request: expected a methodCall with a methodName")
    return method, params


def dumps_result(value: Any) -> bytes:
    return xmlrpc.client.dumps(
        (xml_safe(value),), methodresponse=True, allow_none=True, encoding="utf-8"
    ).encode("utf-8")


def dumps_name_int_struct(items: list[tuple[str, int]]) -> bytes:
    """The response ``{name: int, ...}``, byte for byte what :func:`dumps_result` would give.

    For the one big answer (a struct of every project): ``xmlrpc.client`` walks its input
    value by value and would spend most of the call's time budget doing so.
    """
    if any(not fits_int(value) for _, value in items):
        return dumps_result(dict(items))
    members = "".join(
        f"{MEMBER_HEAD}{_xml_text(name)}{MEMBER_MIDDLE}{value}{MEMBER_TAIL}"
        for name, value in items
    )
    return struct_of_members(members.encode("utf-8"))


# A ``{name: int}`` struct member: MEMBER_HEAD, the name, MEMBER_MIDDLE, the int, MEMBER_TAIL.
MEMBER_HEAD = "<member>\n<name>"
MEMBER_MIDDLE = "</name>\n<value><int>"
MEMBER_TAIL = "</int></value>\n</member>\n"


def fits_int(value: int) -> bool:
    """Whether ``value`` is an XML-RPC ``<int>`` (32 bits); xmlrpc.client refuses others."""
    return _I4_MIN <= value <= _I4_MAX


# The response whose value is a struct: STRUCT_OPEN, the members, STRUCT_CLOSE.
STRUCT_OPEN = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n"
STRUCT_CLOSE = "</struct></value>\n</param>\n</params>\n</methodResponse>\n"


def struct_of_members(members: bytes) -> bytes:
    """The response whose value is a struct of these members, already marshalled."""
    return STRUCT_OPEN.encode() + members + STRUCT_CLOSE.encode()


def dumps_rows(rows: list[tuple]) -> bytes:
    """The response ``[[value, ...], ...]`` for rows of strings, None and 32-bit integers,
    byte for byte what :func:`dumps_result` would give (anything else goes through it).

    For the change log (up to 50,000 rows of five values a call, which bandersnatch asks for
    on every sync): ``xmlrpc.client`` dispatches on every value's type through a method table
    and made this call seconds long.
    """
    parts = ["<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n"]
    add = parts.append
    for row in rows:
        add("<value><array><data>\n")
        for value in row:
            kind = type(value)
            if kind is str:
                add("<value><string>")
                add(_xml_text(value))
                add("</string></value>\n")
            elif value is None:
                add("<value><nil/></value>")
            elif kind is int and _I4_MIN <= value <= _I4_MAX:
                add(f"<value><int>{value}</int></value>\n")
            else:
                return dumps_result(rows)
        add("</data></array></value>\n")
    add("</data></array></value>\n</param>\n</params>\n</methodResponse>\n")
    return "".join(parts).encode("utf-8")


def _xml_text(value: str) -> str:
    """What :func:`xml_safe` and then ``xmlrpc.client`` make of a string, cheaply for the
    usual string that needs nothing."""
    # Every character _NOT_XML matches is unprintable; isprintable() scans in C.
    if not value.isprintable():
        value = _NOT_XML.sub("\ufffd", value)
    if "&" in value or "<" in value or ">" in value:
        value = _escape(value)
    return value


def dumps_fault(fault: Fault) -> bytes:
    safe = Fault(fault.faultCode, xml_safe(str(fault.faultString)))
    return xmlrpc.client.dumps(safe, methodresponse=True, encoding="utf-8").encode("utf-8")


def xml_safe(value: Any) -> Any:
    """``value`` with everything XML-RPC cannot carry as-is made carriable.

    Control characters are replaced, aware datetimes become naive UTC (XML-RPC has no time
    zones), and integers outside the 32-bit ``<int>`` range become doubles, as other
    XML-RPC servers send them.
    """
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _I4_MIN <= value <= _I4_MAX else float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dict):
        return {xml_safe(str(k)): xml_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [xml_safe(v) for v in value]
    return value


# Arguments --------------------------------------------------------------------------------


def bind_arguments(name: str, function: Callable, params: tuple) -> list:
    """``params`` checked against ``function``'s signature (after its first, context
    parameter) and annotations, with defaults filled in; a Fault says what is wrong."""
    signature = inspect.signature(function)
    declared = list(signature.parameters.values())[1:]
    hints = typing.get_type_hints(function)
    required = [p for p in declared if p.default is inspect.Parameter.empty]
    if not len(required) <= len(params) <= len(declared):
        raise Fault(
            INVALID_PARAMS,
            f"{name}{_describe(declared, hints)}: {_count(required, declared, params)}",
        )
    values = list(params) + [p.default for p in declared[len(params) :]]
    for position, (parameter, value) in enumerate(zip(declared, values, strict=True), 1):
        expected = hints[parameter.name]
        if position <= len(params) and not _matches(value, expected):
            raise Fault(
                INVALID_PARAMS,
                f"{name}{_describe(declared, hints)}: argument {position} ({parameter.name}) "
                f"must be {_type_name(expected)}, not {_xmlrpc_type(value)}",
            )
    return values


def _matches(value: Any, expected: Any) -> bool:
    if expected is bool:
        # Some clients send 0/1 integers for booleans.
        return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(expected) is list:
        (item_type,) = typing.get_args(expected)
        return isinstance(value, list | tuple) and all(_matches(v, item_type) for v in value)
    return isinstance(value, expected)


def _bare_type_name(expected: Any) -> str:
    if typing.get_origin(expected) is list:
        return f"array of {_bare_type_name(typing.get_args(expected)[0])}s"
    return {int: "int", str: "string", bool: "boolean"}.get(expected, str(expected))


def _type_name(expected: Any) -> str:
    bare = _bare_type_name(expected)
    return f"{'an' if bare[0] in 'aeiou' else 'a'} {bare}"


def _xmlrpc_type(value: Any) -> str:
    for kind, label in (
        (bool, "a boolean"),
        (int, "an int"),
        (float, "a double"),
        (str, "a string"),
        (bytes, "base64 data"),
        (datetime.datetime, "a dateTime"),
        (dict, "a struct"),
        (list, "an array"),
        (tuple, "an array"),
    ):
        if isinstance(value, kind):
            return label
    return "nil" if value is None else type(value).__name__


def _describe(declared, hints) -> str:
    parts = []
    for p in declared:
        text = f"{p.name}: {_bare_type_name(hints[p.name])}"
        parts.append(text if p.default is inspect.Parameter.empty else f"{text} = {p.default!r}")
    return "(" + ", ".join(parts) + ")"


def _count(required, declared, params) -> str:
    if len(required) == len(declared):
        wanted = f"{len(declared)} argument{'s' if len(declared) != 1 else ''}"
    else:
        wanted = f"{len(required)} to {len(declared)} arguments"
    return f"takes {wanted}, got {len(params)}"
