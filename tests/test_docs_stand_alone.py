"""The docs, examples and docstrings stand on their own: they never send the reader to the
lecture decks the project was seeded from (which are not in the repository), nor to "the
slide" the reader cannot see. Formulas, worked numbers and public sources go in instead.

(tests/seeds/ rebuilds the decks' examples as tests and may name them; it is not scanned.)
"""

from __future__ import annotations

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
SCANNED = {
    "README.md": ["README.md"],
    "docs": ["docs/**/*.md"],
    "examples": ["examples/**/*.py", "examples/**/*.md", "examples/**/*.toml", "examples/**/*.ipynb"],
    "code": ["graphengine/**/*.py", "visualize/**/*.py", "plugins/**/*.py"],
}
# "deck 001", "decks 000 and 002", "the deck's", "lecture decks", "the slide prints", "slide (deck ...)"
PATTERN = re.compile(r"\bdecks?\b(?:'s)?|\blecture slides?\b|\bthe slides?(?:'s)?\b(?! that way)|\blectures' ",
                     flags=re.IGNORECASE)


def files():
    for patterns in SCANNED.values():
        for pattern in patterns:
            yield from (p for p in sorted(REPO.glob(pattern)) if "out" not in p.relative_to(REPO).parts[:-1])


def test_the_pattern_finds_what_it_should():
    for text in ("as deck 002 defines it", "(decks 000, 001, 002)", "The deck's advice", "of the lecture decks",
                 "The slide prints h = 0.4682", "as the lecture slides draw them", "the lectures' worked examples"):
        assert PATTERN.search(text), text
    for text in ("fit a slide", "lectures attended", "a slide left to right", "Hinton, Coursera lecture 6e"):
        assert not PATTERN.search(text), text


def test_no_file_cites_the_decks_or_their_slides():
    scanned = list(files())
    assert len(scanned) > 80
    hits = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
            for path in scanned
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if PATTERN.search(line)]
    assert not hits, "cite the formula, the numbers or a public source instead:\n" + "\n".join(hits)
