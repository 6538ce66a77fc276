"""Sentence collection: fortune databases, Debian prose and voice-assistant templates.

Why: the corpus needs tens of thousands of distinct, varied sentences, including the short
spoken-form commands, numbers, dates and times a streaming recogniser will hear, and the
test sentences must never appear in training text.
"""
import glob
import gzip
import random
import re
from pathlib import Path

from .normalize import normalize, number_to_words, ordinal_words, year_words

FORTUNE_DIR = "/usr/share/games/fortunes"
# Offensive/ASCII-art collections are skipped: unsayable or unwanted.
SKIP_FORTUNES = {"art", "ascii-art", "ethnic", "off"}


def _sentences(block: str) -> list[str]:
    block = re.sub(r"\s+", " ", block)
    block = re.sub(r"^\s*[-~]+.*$", "", block)
    return re.split(r"(?<=[.!?])\s+", block)


def fortune_sentences() -> list[str]:
    """Sentences from every fortune database (one entry is split on sentence ends)."""
    out = []
    for path in sorted(glob.glob(f"{FORTUNE_DIR}/*")):
        name = Path(path).name
        if "." in name or name in SKIP_FORTUNES or Path(path).is_dir():
            continue
        text = Path(path).read_text(encoding="latin-1")
        for entry in text.split("\n%\n"):
            # attribution lines ("-- Mark Twain") are not part of the sentence
            lines = [l for l in entry.splitlines() if not l.strip().startswith("--")]
            out.extend(_sentences(" ".join(lines)))
    return out


def doc_sentences(limit_files: int = 4000) -> list[str]:
    """Prose sentences from README-like files under /usr/share/doc (not changelogs/licences)."""
    out = []
    files = sorted(glob.glob("/usr/share/doc/*/README*") + glob.glob("/usr/share/doc/*/*.txt*"))
    for path in files[:limit_files]:
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        except OSError:
            continue
        text = raw.decode("utf-8", "ignore")
        for para in re.split(r"\n\s*\n", text):
            if para.count("\n") > 12 or re.search(r"[=*#<>{}|/\\_@]", para):
                continue  # code, tables, headers, paths
            out.extend(_sentences(para))
    return out


CITIES = ["boston", "chicago", "new york", "paris", "london", "seattle", "denver", "austin",
          "tokyo", "berlin", "miami", "dallas", "phoenix", "atlanta", "portland", "toronto",
          "madrid", "rome", "sydney", "san francisco", "los angeles", "houston", "dublin"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "today", "tomorrow", "tonight", "this weekend", "next week"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
NAMES = ["mom", "dad", "john", "sarah", "alex", "emma", "david", "lisa", "michael", "anna",
         "james", "olivia", "the office", "my sister", "my brother", "doctor smith"]
ROOMS = ["kitchen", "living room", "bedroom", "bathroom", "garage", "office", "hallway"]
ARTISTS = ["the beatles", "taylor swift", "miles davis", "queen", "some jazz", "classical music",
           "the radio", "my playlist", "relaxing music", "rock music", "a podcast"]
ITEMS = ["milk", "eggs", "bread", "coffee", "apples", "batteries", "paper towels", "rice",
         "chicken", "tomatoes", "cheese", "butter", "orange juice", "dog food"]
UNITS = ["minutes", "seconds", "hours"]


def _time_words(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    m = rng.choice([0, 0, 5, 10, 15, 20, 30, 45, rng.randint(1, 59)])
    ampm = rng.choice(["", " a m", " p m", " in the morning", " in the evening"])
    if m == 0:
        base = number_to_words(h) + rng.choice([" o'clock", ""])
    elif m < 10:
        base = number_to_words(h) + " oh " + number_to_words(m)
    elif m == 15 and rng.random() < 0.5:
        base = "quarter past " + number_to_words(h)
    elif m == 30 and rng.random() < 0.5:
        base = "half past " + number_to_words(h)
    else:
        base = number_to_words(h) + " " + number_to_words(m)
    return base + ampm


def _date_words(rng: random.Random) -> str:
    month = rng.choice(MONTHS)
    day = ordinal_words(rng.randint(1, 28))
    if rng.random() < 0.5:
        return f"{month} {day}"
    if rng.random() < 0.5:
        return f"the {day} of {month}"
    return f"{month} {day} {year_words(rng.randint(1950, 2030))}"


def _n(rng, lo, hi):
    return number_to_words(rng.randint(lo, hi))


TEMPLATES = [
    lambda r: f"set a timer for {_n(r, 1, 90)} {r.choice(UNITS)}",
    lambda r: f"set an alarm for {_time_words(r)}",
    lambda r: f"wake me up at {_time_words(r)} {r.choice(DAYS)}",
    lambda r: f"what's the weather in {r.choice(CITIES)} {r.choice(DAYS)}",
    lambda r: f"what's the weather like {r.choice(DAYS)}",
    lambda r: f"will it rain in {r.choice(CITIES)} {r.choice(DAYS)}",
    lambda r: f"what time is it in {r.choice(CITIES)}",
    lambda r: f"call {r.choice(NAMES)}",
    lambda r: f"send a message to {r.choice(NAMES)} saying i'll be there at {_time_words(r)}",
    lambda r: f"remind me to call {r.choice(NAMES)} {r.choice(DAYS)} at {_time_words(r)}",
    lambda r: f"turn {r.choice(['on', 'off'])} the lights in the {r.choice(ROOMS)}",
    lambda r: f"set the {r.choice(ROOMS)} temperature to {_n(r, 60, 80)} degrees",
    lambda r: f"dim the {r.choice(ROOMS)} lights to {_n(r, 5, 95)} percent",
    lambda r: f"play {r.choice(ARTISTS)}",
    lambda r: f"play {r.choice(ARTISTS)} in the {r.choice(ROOMS)}",
    lambda r: f"turn the volume {r.choice(['up', 'down'])} to {_n(r, 1, 10)}",
    lambda r: f"add {r.choice(ITEMS)} and {r.choice(ITEMS)} to my shopping list",
    lambda r: f"add {_n(r, 2, 12)} {r.choice(ITEMS)} to the list",
    lambda r: f"what's on my calendar for {r.choice(DAYS)}",
    lambda r: f"schedule a meeting with {r.choice(NAMES)} on {_date_words(r)} at {_time_words(r)}",
    lambda r: f"how far is {r.choice(CITIES)} from {r.choice(CITIES)}",
    lambda r: f"navigate to {r.choice(CITIES)}",
    lambda r: f"what's {_n(r, 2, 999)} {r.choice(['plus', 'minus', 'times'])} {_n(r, 2, 99)}",
    lambda r: f"convert {_n(r, 1, 500)} {r.choice(['miles', 'pounds', 'dollars', 'feet'])} to "
              f"{r.choice(['kilometers', 'kilograms', 'euros', 'meters'])}",
    lambda r: f"my phone number is {' '.join(number_to_words(r.randint(0, 9)) for _ in range(7))}",
    lambda r: f"the meeting is on {_date_words(r)}",
    lambda r: f"i was born on {_date_words(r)}",
    lambda r: f"the total comes to {_n(r, 1, 9999)} dollars and {_n(r, 1, 99)} cents",
    lambda r: f"there are {_n(r, 2, 100000)} people in the {r.choice(['room', 'city', 'stadium'])}",
    lambda r: f"flight {_n(r, 10, 999)} leaves at {_time_words(r)} from gate {_n(r, 1, 60)}",
    lambda r: f"how do i get to the {r.choice(['airport', 'train station', 'hospital', 'library'])}",
    lambda r: f"{r.choice(['stop', 'pause', 'resume', 'skip'])} the music please",
    lambda r: f"is the {r.choice(['store', 'bank', 'pharmacy', 'museum'])} open on {r.choice(DAYS)}",
    lambda r: f"read me the news about {r.choice(CITIES)}",
    lambda r: f"how many {r.choice(['days', 'weeks', 'hours'])} until {_date_words(r)}",
    lambda r: f"order a large pizza with {r.choice(ITEMS)} for {_time_words(r)}",
    lambda r: f"cancel my alarm for {_time_words(r)}",
    lambda r: f"room {_n(r, 100, 999)} on the {ordinal_words(r.randint(1, 30))} floor",
]


def template_sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(TEMPLATES)(rng) for _ in range(count)]


def collect(seed: int, n_test: int) -> tuple[list[str], list[str]]:
    """(train, test) normalised, de-duplicated, disjoint sentence lists, shuffled with seed."""
    raw = fortune_sentences() + doc_sentences()
    prose = sorted({s for s in (normalize(x) for x in raw) if s})
    commands = sorted({s for s in (normalize(x) for x in template_sentences(30000, seed)) if s})
    rng = random.Random(seed)
    rng.shuffle(prose)
    rng.shuffle(commands)
    # Test mixes prose and commands in the same 3:1 ratio as train uses.
    n_cmd = n_test // 4
    test = prose[: n_test - n_cmd] + commands[:n_cmd]
    test_set = set(test)
    train = [s for s in prose[n_test - n_cmd:] + commands[n_cmd:] if s not in test_set]
    rng.shuffle(test)
    return train, test
