"""Text statistics demo API: counts, readability and top words for a text, and slugs.

Billed per 1,000 characters through the units header; counting is heuristic (regex words,
sentences end at . ! ? …), which the spec says plainly."""

import math
import re
import unicodedata
from collections import Counter

from django.http import JsonResponse

from .jsonio import UNITS_HEADER, int_field, invalid, json_endpoint, read_json_object, string_field

MAX_TEXT_CHARS = 100_000
MAX_SLUG_SOURCE_CHARS = 1_000
# 100,000 characters escaped as \uXXXX take 600 KB; anything beyond 1 MB is not our input.
MAX_BODY_BYTES = 1024 * 1024
CHARS_PER_UNIT = 1_000
WORDS_PER_MINUTE = 200
TOP_WORDS = 10

# Inner apostrophes (straight or U+2019) and hyphens keep "don't" and "e-mail" one word.
WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")

ENGLISH_STOPWORDS = """
    a an and are as at be been but by can could did do does for from had has have he her
    his i if in into is it its me my no not of on or our she so than that the their them then
    there these they this to too us was we were what when which who will with would you your
    """
STOPWORDS = frozenset(ENGLISH_STOPWORDS.split())

# Letters NFKD cannot decompose into ASCII, spelled the way slugs usually spell them.
SPECIAL_LETTERS = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE",
        "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D",
        "\u0131": "i",  # dotless i
        "\u2019": "", "'": "",  # apostrophes vanish: "don't" becomes "dont", not "don-t"
    }
)  # fmt: skip


@json_endpoint("POST")
def analyze(request):
    data = read_json_object(request, max_bytes=MAX_BODY_BYTES)
    text = string_field(data, "text", max_chars=MAX_TEXT_CHARS)
    if not text:
        raise invalid("The field 'text' must not be empty.")
    language = _language(data)
    stats = text_statistics(text, english=language.split("-")[0].lower() == "en")
    response = JsonResponse({"language": language, **stats})
    response[UNITS_HEADER] = str(stats["units"])
    return response


@json_endpoint("POST")
def slugify(request):
    data = read_json_object(request, max_bytes=MAX_BODY_BYTES)
    text = string_field(data, "text", max_chars=MAX_SLUG_SOURCE_CHARS)
    max_length = int_field(data, "max_length", default=80, low=1, high=200)
    slug = slug_from(text, max_length=max_length)
    if not slug:
        raise invalid(
            "The text has no letters or digits that transliterate to ASCII.", code="empty_slug"
        )
    response = JsonResponse({"slug": slug, "length": len(slug)})
    response[UNITS_HEADER] = "1"
    return response


@json_endpoint("GET")
def health(request):
    return JsonResponse({"status": "ok", "service": "textstats"})


def _language(data: dict) -> str:
    language = string_field(data, "language", default="en")
    if not LANGUAGE_TAG.fullmatch(language):
        raise invalid("The field 'language' must be a language tag such as 'en' or 'de-AT'.")
    return language


def text_statistics(text: str, *, english: bool) -> dict:
    words = WORD.findall(text)
    sentences = sentence_count(text)
    return {
        "characters": len(text),
        "characters_excluding_spaces": sum(1 for char in text if not char.isspace()),
        "words": len(words),
        "sentences": sentences,
        "paragraphs": len(_paragraphs(text)),
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0,
        "reading_time_seconds": math.ceil(len(words) * 60 / WORDS_PER_MINUTE),
        "flesch_reading_ease": flesch_reading_ease(words, sentences) if english else None,
        "top_words": top_words(words, stopwords=STOPWORDS if english else frozenset()),
        "units": max(1, math.ceil(len(text) / CHARS_PER_UNIT)),
    }


def _paragraphs(text: str) -> list[str]:
    return [part for part in PARAGRAPH_BREAK.split(text) if part.strip()]


def sentence_count(text: str) -> int:
    """Sentences end at . ! ? … followed by a space, or at a paragraph break, so a heading
    without a full stop still counts as one sentence."""
    pieces = (piece for paragraph in _paragraphs(text) for piece in SENTENCE_END.split(paragraph))
    return sum(1 for piece in pieces if WORD.search(piece))


def flesch_reading_ease(words: list[str], sentences: int) -> float | None:
    if not words or not sentences:
        return None
    syllables = sum(map(syllable_count, words))
    score = 206.835 - 1.015 * (len(words) / sentences) - 84.6 * (syllables / len(words))
    return round(score, 1)


def syllable_count(word: str) -> int:
    """English heuristic: count vowel groups after dropping a silent final -e/-es/-ed."""
    letters = re.sub(r"[^a-z]", "", _ascii(word).lower())
    if len(letters) <= 3:
        return 1
    letters = re.sub(r"(?:[^laeiouy]es|[^laeiouy]ed|[^laeiouy]e)$", "", letters)
    letters = re.sub(r"^y", "", letters)
    return max(1, len(re.findall(r"[aeiouy]{1,2}", letters)))


def top_words(words: list[str], *, stopwords: frozenset[str]) -> list[dict]:
    # Counter keeps first-seen order among equal counts, so ties read in text order.
    counts = Counter(word.lower() for word in words if word.lower() not in stopwords)
    return [{"word": word, "count": count} for word, count in counts.most_common(TOP_WORDS)]


def slug_from(text: str, *, max_length: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")
    if len(slug) <= max_length:
        return slug
    # Cut at the last hyphen that fits, so the slug does not end mid-word.
    head = slug[: max_length + 1]
    return head.rsplit("-", 1)[0] if "-" in head else slug[:max_length]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(SPECIAL_LETTERS))
    return decomposed.encode("ascii", "ignore").decode("ascii")
