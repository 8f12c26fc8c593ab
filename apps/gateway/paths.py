"""The upstream path stays under the listing's base path.

`/gw/<slug>/<rest>` goes to `<upstream_url><rest>` with `<rest>` as sent (percent-encoding
kept, so `a%2Fb` stays one segment). Upstreams that normalize paths would resolve a dot
segment in `<rest>` against the base path and serve what lies outside it, so a path with
one is refused (400 `invalid_path`), never resolved: a client that meant `./` or `../`
normalizes before sending (browsers, curl and HTTP libraries all do), so only a crafted
request carries one.

A segment counts as a dot segment however an upstream might come to see it as one:
percent-decoded until nothing changes (some servers decode twice), with `\\` as a separator
(Windows and some frameworks), cut at `;` (Tomcat's path parameters) or NUL, and made only
of dots and spaces (Windows trims trailing dots and spaces), with overlong UTF-8 forms of
`.`, `/` and `\\` read as those (old Java and IIS decoders did), and after Unicode NFKC
folding (`．．` and `‥` are `..` to frameworks that normalize text)."""

import re
import unicodedata
from urllib.parse import unquote_to_bytes

MAX_DECODES = 4
_SEPARATORS = re.compile(rb"[/\\]")
_CUT = re.compile(rb"[;\x00]")
_OVERLONG = {
    b"\xc0\xae": b".",
    b"\xe0\x80\xae": b".",
    b"\xc0\xaf": b"/",
    b"\xe0\x80\xaf": b"/",
    b"\xc1\x9c": b"\\",
    b"\xe0\x81\x9c": b"\\",
}


def leaves_base_path(raw_path: bytes) -> bool:
    """True when some reading of `raw_path` holds a `.` or `..` segment."""
    if b"." not in raw_path and b"%" not in raw_path and raw_path.isascii():
        return False  # the common case: nothing to decode, no dot
    decoded = raw_path
    for _ in range(MAX_DECODES):
        once = unquote_to_bytes(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return True  # still encoded after four rounds: nobody legitimate sends that
    folded = _folded(decoded)
    return any(_is_dot_segment(segment) for segment in _SEPARATORS.split(folded))


def _folded(decoded: bytes) -> bytes:
    """`decoded` with overlong forms made plain and NFKC applied: this reading holds every
    dot segment of the plain one (ASCII is unchanged by both) and those of the others."""
    if decoded.isascii():
        return decoded
    for overlong, plain in _OVERLONG.items():
        decoded = decoded.replace(overlong, plain)
    text = decoded.decode("utf-8", "surrogateescape")
    return unicodedata.normalize("NFKC", text).encode("utf-8", "surrogateescape")


def _is_dot_segment(segment: bytes) -> bool:
    name = _CUT.split(segment, 1)[0]
    return b"." in name and name.strip(b". \t") == b""
