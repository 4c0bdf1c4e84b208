"""The one rule for text that is stored and exported: ids, names and attribute values.

What XML 1.0 cannot hold (control characters other than tab, line feed and carriage return),
noncharacters (U+FFFE, U+FFFF, U+FDD0..U+FDEF and the last two code points of every plane)
and lone surrogates are refused on every write path; ids and names hold no control character
at all (no NUL, no line breaks). Exports clean what an older database still holds.
"""

from typing import Optional

REPLACEMENT = "\ufffd"


def _refused(c: str, line_breaks: bool) -> bool:
    o = ord(c)
    if o < 0x20 or 0x7F <= o <= 0x9F:
        return not (line_breaks and c in "\t\n\r")
    return 0xD800 <= o <= 0xDFFF or 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE


def bad_character(text: str, line_breaks: bool = False) -> Optional[str]:
    """The first character of `text` the rule refuses (None when all are fine); `line_breaks`
    allows tab, line feed and carriage return (attribute values), otherwise no control character."""
    return next((c for c in text if _refused(c, line_breaks)), None)


def problem(text: str, what: str, line_breaks: bool = False) -> Optional[str]:
    """One sentence saying why `text` (called `what`) cannot be stored, or None."""
    bad = bad_character(text, line_breaks)
    if bad is None:
        return None
    return f"{what} holds the character U+{ord(bad):04X}, which cannot be stored or exported (only printable text)"


def clean(text: str, line_breaks: bool = True) -> str:
    """`text` with each refused character replaced by U+FFFD (for exporting older databases)."""
    if bad_character(text, line_breaks) is None:
        return text
    return "".join(REPLACEMENT if _refused(c, line_breaks) else c for c in text)
