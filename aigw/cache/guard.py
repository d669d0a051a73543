"""The guard: a semantic hit is served only if the two prompts agree on what embeddings miss.

Static embeddings average token vectors, so they cannot see word order ("5 km to miles"
and "5 miles to km" have cosine 1.0) and barely see a changed number, a "not", a quoted
string or a swapped name. Each check below is cheap and conservative: when in doubt it
refuses, and a refusal only costs a miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[+#]+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|`([^`]+)`|(?<!\w)\'([^\']+)\'(?!\w)|‘([^’]+)’')
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*)([^\W\d_][\w'’]*)", re.UNICODE)

_NUMBER_WORDS = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "half": "0.5",
    "twice": "x2",
    "double": "x2",
    "triple": "x3",
}

_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "nowhere",
        "cannot",
        "without",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "cant",
        "couldnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "havent",
        "hasnt",
        "hadnt",
        "mustnt",
        "neednt",
        "aint",
    ]
)

# Words whose presence flips the meaning of an otherwise identical question
# ("turn on" / "turn off", "before" / "after"): each must be in both prompts or neither.
_POLAR = frozenset(
    [
        "off",
        "enable",
        "enabled",
        "disable",
        "disabled",
        "increase",
        "decrease",
        "increasing",
        "decreasing",
        "before",
        "after",
        "minimum",
        "maximum",
        "min",
        "max",
        "true",
        "false",
        "buy",
        "sell",
        "import",
        "export",
        "upload",
        "download",
        "encrypt",
        "decrypt",
        "encode",
        "decode",
        "add",
        "remove",
        "include",
        "exclude",
        "more",
        "less",
        "fewer",
        "best",
        "worst",
        "highest",
        "lowest",
        "largest",
        "smallest",
        "biggest",
        "cheapest",
        "fastest",
        "slowest",
        "first",
        "last",
        "above",
        "below",
        "ascending",
        "descending",
        "positive",
        "negative",
        "male",
        "female",
        "men",
        "women",
        "husband",
        "wife",
        "boy",
        "girl",
        "north",
        "south",
        "east",
        "west",
        "past",
        "future",
        "old",
        "new",
        "oldest",
        "newest",
        "hot",
        "cold",
        "long",
        "short",
        "fast",
        "slow",
        "rich",
        "poor",
        "win",
        "lose",
        "lost",
        "won",
        "pros",
        "cons",
        "advantages",
        "disadvantages",
        "benefits",
        "disadvantage",
        "advantage",
        "allowed",
        "forbidden",
        "legal",
        "illegal",
        "safe",
        "unsafe",
        "dangerous",
        "cheap",
        "expensive",
        "good",
        "bad",
        "better",
        "worse",
    ]
)

# "Where was X born?" and "When was X born?" embed alike but ask different things.
_QUESTION_WORDS = frozenset(
    ["what", "where", "when", "why", "how", "who", "whom", "whose", "which"]
)

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "there",
        "here",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "about",
        "as",
        "and",
        "or",
        "but",
        "if",
        "so",
        "than",
        "then",
        "too",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "just",
        "also",
        "any",
        "some",
        "all",
        "each",
        "every",
        "such",
        "get",
        "got",
        "make",
        "one",
        "way",
        "ways",
        "s",
    ]
)


@dataclass(frozen=True, slots=True)
class Features:
    numbers: tuple[str, ...]
    negations: int
    polar: frozenset[str]
    question: frozenset[str]
    quoted: frozenset[str]
    names: frozenset[str]
    words: frozenset[str]
    order: tuple[str, ...]  # content words, lower-cased, in first-occurrence order


def _base(w: str) -> str:
    """ "what's" -> "what", "i'm" -> "i"; negated forms ("don't") are kept whole."""
    if "'" in w and not w.endswith("n't"):
        return w.split("'", 1)[0]
    return w


def features(text: str) -> Features:
    tokens = _WORD.findall(text)
    lower = [_base(t.lower().replace("’", "'")) for t in tokens]
    numbers = [n.replace(",", "") for n in _NUMBER.findall(text)]
    numbers += [_NUMBER_WORDS[w] for w in lower if w in _NUMBER_WORDS]
    neg = sum(
        1 for w in lower if w in _NEGATIONS or w.endswith("n't") or w.replace("'", "") in _NEGATIONS
    )
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    names = set()
    for m in _WORD.finditer(text):
        t = m.group(0)
        if t == "I" or not any(c.isupper() for c in t):
            continue
        inner = any(c.isupper() for c in t[1:])
        if m.start() in starts and not inner:
            continue  # "What ...", "How ..." start a sentence, they are not names
        names.add(_base(t.lower().replace("’", "'")))
    quoted = {next(g for g in m.groups() if g).strip().lower() for m in _QUOTED.finditer(text)}
    seen: dict[str, None] = {}
    for w in lower:
        if w not in _STOP and w not in seen:
            seen[w] = None
    return Features(
        numbers=tuple(sorted(numbers)),
        negations=neg,
        polar=frozenset(w for w in lower if w in _POLAR),
        question=frozenset(w for w in lower if w in _QUESTION_WORDS),
        quoted=frozenset(quoted),
        names=frozenset(names),
        words=frozenset(lower),
        order=tuple(seen),
    )


def disagreement(a: Features, b: Features) -> str | None:
    """Why the two prompts may mean different things, or None when the guard agrees."""
    if a.numbers != b.numbers:
        return "numbers"
    if a.negations != b.negations:
        return "negation"
    if a.polar != b.polar:
        return "polar_word"
    if a.question != b.question:
        return "question_word"
    if a.quoted != b.quoted:
        return "quoted"
    if not a.names <= b.words or not b.names <= a.words:
        return "name"
    shared = set(a.order) & set(b.order)
    if [w for w in a.order if w in shared] != [w for w in b.order if w in shared]:
        return "word_order"
    return None


def agree(a: str, b: str) -> bool:
    return disagreement(features(a), features(b)) is None
