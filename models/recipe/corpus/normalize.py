"""Text normalisation to the manifest alphabet (a-z, space, apostrophe).

Why: the acoustic model's output alphabet is fixed by docs/model-contract.md, so every
transcript must be spoken-form lower-case text; digits are spelled out the way people say them.
"""
import re

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
        "nine": "ninth", "twelve": "twelfth"}


def number_to_words(n: int) -> str:
    """Cardinal number in words, e.g. 2024 -> 'two thousand twenty four'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for value, name in _SCALES:
        if n >= value:
            rest = n % value
            head = number_to_words(n // value) + " " + name
            return head + ("" if rest == 0 else " " + number_to_words(rest))
    raise ValueError(n)


def ordinal_words(n: int) -> str:
    """Ordinal in words, e.g. 21 -> 'twenty first'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORD:
        last = _ORD[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def year_words(n: int) -> str:
    """Year as spoken: 1984 -> 'nineteen eighty four', 2005 -> 'two thousand five'."""
    if 2000 <= n < 2010 or n % 1000 < 10 or not 1100 <= n <= 2099:
        return number_to_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    return number_to_words(hi) + (" oh " + _ONES[lo] if lo < 10 else " " + number_to_words(lo))


def _spell_number(match: re.Match) -> str:
    token = match.group(0).replace(",", "")
    if re.fullmatch(r"\d+\.\d+", token):
        whole, frac = token.split(".")
        return number_to_words(int(whole)) + " point " + " ".join(_ONES[int(d)] for d in frac)
    value = int(token)
    if 1100 <= value <= 2099 and len(token) == 4:
        return year_words(value)
    return number_to_words(value)


_REPLACEMENTS = [
    (re.compile(r"[\u2018\u2019`]"), "'"),
    (re.compile(r"[\u201c\u201d]"), '"'),
    (re.compile(r"&"), " and "),
    (re.compile(r"%"), " percent "),
    (re.compile(r"\$(\d+)"), r"\1 dollars "),
    (re.compile(r"(\d+)(st|nd|rd|th)\b"), lambda m: " " + ordinal_words(int(m.group(1))) + " "),
    (re.compile(r"\d{1,3}(,\d{3})+|\d+(\.\d+)?"), lambda m: " " + _spell_number(m) + " "),
]
# Punctuation that carries no sound and can safely be dropped.
_DROPPABLE = re.compile(r"[.,;:!?\"()\[\]-]")
_VALID = re.compile(r"^[a-z' ]+$")


def normalize(text: str, min_words: int = 3, max_words: int = 25) -> str | None:
    """Spoken-form transcript, or None if the text has symbols we cannot say reliably."""
    t = text.strip()
    for pattern, repl in _REPLACEMENTS:
        t = pattern.sub(repl, t)
    t = t.lower()
    t = re.sub(r"\s-+\s|--+", " ", t)
    t = _DROPPABLE.sub(" ", t)
    t = re.sub(r"\s'|'\s|^'|'$", " ", t)  # quote marks, not apostrophes
    t = re.sub(r"\s+", " ", t).strip()
    if not t or not _VALID.match(t) or "''" in t:
        return None
    words = t.split()
    if not min_words <= len(words) <= max_words:
        return None
    if any(len(w) > 20 for w in words):
        return None
    return " ".join(words)
