"""Text other people chose, on its way into one-line places: names and email subjects.

A line break in an organization name made the invitation email fail (Django refuses a
header with a newline, rightly: it would inject headers). Names refuse control characters
when saved; subjects are made one line whatever they are built from, so a name saved
before this rule, or any other text, cannot break or inject a header."""

import re

from django.core.exceptions import ValidationError

# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides
# and isolates (they make a name display as something else: "Acme‮moc.evil")
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
CONTROL_MESSAGE = "Use letters, digits, spaces and punctuation only: no line breaks or tabs."
SUBJECT_MAX = 150


def has_control_characters(text: str) -> bool:
    return bool(CONTROL_CHARACTERS.search(text or ""))


def refuse_control_characters(value: str) -> None:
    """A form and model field validator."""
    if has_control_characters(value):
        raise ValidationError(CONTROL_MESSAGE, code="control_characters")


def one_line(text: str, *, limit: int = SUBJECT_MAX) -> str:
    """`text` as one safe line: every character that is not printable (controls, line
    breaks, format characters such as the bidirectional overrides) becomes a space, runs of
    spaces one, cut to `limit` characters with an ellipsis."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def email_subject(prefix: str, text: str) -> str:
    """Every email subject the product builds: `prefix` + `text`, on one line."""
    return one_line(f"{prefix}{text}")
