"""Reading a request's JSON body strictly: what Python's json accepts but SQLite, the XML
export or the page cannot hold is refused here, in one sentence, before a route uses it.

Refused: invalid UTF-8 or JSON, NaN / Infinity, nesting deeper than MAX_DEPTH, integers
outside the signed 64-bit range (SQLite's), and strings with lone surrogates (`"\\ud800"`
is valid JSON but no valid text).
"""

import json

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BadBody(ValueError):
    """A body that cannot be used: the message is one sentence for the user."""


def parse(data: bytes):
    """The JSON value in `data`, checked as described above; BadBody otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("The request body is not valid UTF-8.") from None
    try:
        value = json.loads(text, parse_int=_int, parse_constant=_constant)
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(f"The request body is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:
        raise BadBody("The request body is not valid JSON.") from None
    check(value)
    return value


def check(value) -> None:
    """Depth, integer range and text checks on an already parsed value (iterative)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadBody(f"The request body is nested more than {MAX_DEPTH} levels deep.")
            if isinstance(node, dict):
                for key, item in node.items():
                    _text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            _text(node)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise BadBody("The request body holds an integer beyond 64 bits.")


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadBody("The request body holds text with a lone surrogate (\\ud800-\\udfff).") from None


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > 19:  # longer than any 64-bit integer; also no 4300-digit parse
        raise BadBody("The request body holds an integer beyond 64 bits.")
    return int(digits)


def _constant(name: str):
    raise BadBody(f"The request body holds {name}, which is not a JSON number.")
