"""Prepare hook for the ``genai_rag`` assignment (RAG over the CMU Question-Answer Dataset, S10).

Called by ``harness.data.prepare_assignment`` as ``prepare(sources, out, seed)``. It reads the
60 articles and the question/answer TSV, groups the answer rows by (article, question), gives
every question an opaque stable id, applies the committed split in ``splits/`` (it never
re-splits; see ``make_splits.py``) and writes:

- ``inputs/corpus/<doc_id>.txt``  one file per article, e.g. ``corpus/set4/a10.txt`` (bytes
  unchanged; the first line is the title)
- ``inputs/documents.jsonl``       ``{"doc_id", "title"}`` per article
- ``inputs/questions.jsonl``       ``{"id", "question"}`` of the hidden eval set (no answers)
- ``inputs/dev.jsonl`` and ``kit/dev.jsonl``  the public dev set, with references
- ``kit/corpus/...``, ``kit/documents.jsonl`` same bytes as in ``inputs/``
- ``kit/questions.jsonl``          the dev questions in the eval format, for local runs
- ``hidden/eval.jsonl``            the eval set with every reference answer, the reference
  document id, the paragraphs that contain an answer verbatim, difficulty, topic, yes/no flag
- ``hidden/stats.json``            counts (for the NOTICE, the README and the tests)

Traps in the raw TSV (see the data's SOURCE record): it is latin-1, but a few rows hold UTF-8
bytes (mojibake such as ``Ã‰tienne``) and HTML numeric entities (``&#20415;``); both are
repaired. Rows without a question or answer are dropped. Lines are written sorted by id.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.data import PreparedPaths

ROOT = "rag_eval/cmu_qa_s10"
QA_SOURCE = f"{ROOT}/question_answer_pairs.txt"
SETS = 6
ARTICLES_PER_SET = 10
TOPICS = {1: "animals", 2: "instruments", 3: "cities", 4: "scientists", 5: "languages", 6: "painters"}
HEADER = ["ArticleTitle", "Question", "Answer", "DifficultyFromQuestioner", "DifficultyFromAnswerer", "ArticleFile"]
EXPECTED_ROWS = 1458
EXPECTED_ITEMS = 792
ID_SALT = "genai_rag"
SPLITS_DIR = Path(__file__).resolve().parent / "splits"
DEV_IDS = "dev_ids.txt"
EVAL_IDS = "eval_ids.txt"
YES_NO = frozenset({"yes", "no"})
AUXILIARIES = frozenset(
    "is was are were am do does did can could has have had will would should shall may might must "
    "isn wasn aren weren don doesn didn can't couldn hasn haven hadn won wouldn shouldn".split()
)


def article_source(set_no: int, article_no: int) -> str:
    """The declared source name of one article, e.g. ``rag_eval/cmu_qa_s10/data/set4/a10.txt.clean``."""
    return f"{ROOT}/data/set{set_no}/a{article_no}.txt.clean"


def all_doc_ids() -> list[str]:
    return [f"set{s}/a{a}" for s in range(1, SETS + 1) for a in range(1, ARTICLES_PER_SET + 1)]


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    topic: str
    raw: bytes

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")


@dataclass
class Item:
    """One eval/dev question: all human answers for an (article, question) pair."""

    id: str
    question: str
    doc_id: str
    title: str
    topic: str
    difficulty: str
    answers: list[str] = field(default_factory=list)
    yes_no: bool = False
    reference_contexts: list[str] = field(default_factory=list)


def question_id(doc_id: str, question: str) -> str:
    """Opaque, stable id of a question about ``doc_id``."""
    return "q" + hashlib.sha256(f"{ID_SALT}:{doc_id}\t{question}".encode()).hexdigest()[:10]


def repair(text: str) -> str:
    """Undo the encoding accidents of the TSV: UTF-8 read as latin-1, HTML entities, cp1252
    quotes, and a control character (``\\x01``) standing for a lost apostrophe or comma."""
    try:
        fixed = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        fixed = text
    fixed = html.unescape(fixed)
    fixed = re.sub("[\x80-\x9f]", lambda m: m.group().encode("latin-1").decode("cp1252", "replace"), fixed)
    fixed = re.sub("\x01(?=s\\b)", "'", fixed).replace("\x01", ",")  # a lost apostrophe or comma
    fixed = "".join(" " if ord(c) < 32 else c for c in fixed)
    return " ".join(fixed.split())


def normalise(text: str) -> str:
    """Lower-case words only (for yes/no detection and verbatim matching)."""
    return " ".join(re.findall(r"\w+", text.lower()))


def is_yes_no(question: str, answers: Sequence[str]) -> bool:
    """A yes/no question: an answer starts with yes/no, or the question starts with an auxiliary
    verb ("Was ...", "Does ...") and offers no alternatives (no "or")."""
    if any(normalise(a).split()[:1] in (["yes"], ["no"]) for a in answers):
        return True
    words = normalise(question).split()
    return bool(words) and words[0] in AUXILIARIES and "or" not in words


def read_documents(sources: dict[str, Path]) -> dict[str, Document]:
    docs = {}
    for set_no in range(1, SETS + 1):
        for article_no in range(1, ARTICLES_PER_SET + 1):
            raw = Path(sources[article_source(set_no, article_no)]).read_bytes()
            text = raw.decode("utf-8")
            title = next((line.strip() for line in text.splitlines() if line.strip()), "")
            doc_id = f"set{set_no}/a{article_no}"
            docs[doc_id] = Document(doc_id, title.replace("_", " "), TOPICS[set_no], raw)
    return docs


def read_rows(path: Path) -> list[dict[str, str]]:
    """The TSV rows as dicts (latin-1; a field is '' when absent). Split on tabs, no quoting."""
    lines = Path(path).read_bytes().decode("latin-1").splitlines()
    header = lines[0].split("\t")
    if header != HEADER:
        raise ValueError(f"{QA_SOURCE}: unexpected header {header}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(HEADER):
            raise ValueError(f"{QA_SOURCE} line {number}: {len(cells)} fields, expected {len(HEADER)}")
        rows.append({name: "" if cell.strip() in ("", "NULL") else cell for name, cell in zip(HEADER, cells)})
    if len(rows) != EXPECTED_ROWS:
        raise ValueError(f"{QA_SOURCE}: {len(rows)} rows, expected {EXPECTED_ROWS}; not the original file")
    return rows


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs (blocks separated by blank lines), whitespace collapsed."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def answer_paragraphs(doc: Document, answers: Iterable[str]) -> list[str]:
    """Paragraphs of ``doc`` that contain one of the (non yes/no) answers verbatim, word for word."""
    wanted = [f" {normalise(a)} " for a in answers if normalise(a) and normalise(a) not in YES_NO]
    found = []
    for para in paragraphs(doc.text):
        padded = f" {normalise(para)} "
        if any(w in padded for w in wanted):
            found.append(para)
    return found


def build_items(rows: Sequence[dict[str, str]], docs: dict[str, Document]) -> list[Item]:
    """Group rows by (article, question); keep every non-empty answer; sorted by id."""
    items: dict[str, Item] = {}
    difficulties: dict[str, Counter[str]] = {}
    for row in rows:
        question, answer = repair(row["Question"]), repair(row["Answer"])
        if not question or not answer:
            continue
        doc_id = row["ArticleFile"].strip().removeprefix("data/")
        if doc_id not in docs:
            raise ValueError(f"{QA_SOURCE}: unknown article {row['ArticleFile']!r}")
        qid = question_id(doc_id, question)
        doc = docs[doc_id]
        item = items.setdefault(qid, Item(qid, question, doc_id, doc.title, doc.topic, "unknown"))
        if answer not in item.answers:
            item.answers.append(answer)
        if row["DifficultyFromQuestioner"]:
            difficulties.setdefault(qid, Counter())[row["DifficultyFromQuestioner"].strip()] += 1
    for qid, item in items.items():
        if qid in difficulties:
            item.difficulty = sorted(difficulties[qid].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        item.yes_no = is_yes_no(item.question, item.answers)
        item.reference_contexts = answer_paragraphs(docs[item.doc_id], item.answers)
    if len(items) != EXPECTED_ITEMS:
        raise ValueError(
            f"{QA_SOURCE}: {len(items)} (article, question) pairs with an answer, expected {EXPECTED_ITEMS}"
        )
    return [items[k] for k in sorted(items)]


def load_items(sources: dict[str, Path]) -> tuple[dict[str, Document], list[Item]]:
    docs = read_documents(sources)
    return docs, build_items(read_rows(sources[QA_SOURCE]), docs)


def read_id_list(path: Path) -> list[str]:
    """One id per line; blank lines ignored; duplicates are an error."""
    ids = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"{path.name} lists ids more than once: {repeated[:5]}")
    return ids


def apply_split(
    items: Sequence[Item], dev_ids: Iterable[str], eval_ids: Iterable[str]
) -> tuple[list[Item], list[Item]]:
    """The dev and eval items named by the committed lists (disjoint, all known)."""
    dev, ev = set(dev_ids), set(eval_ids)
    known = {i.id for i in items}
    problems = []
    if both := sorted(dev & ev):
        problems.append(f"{len(both)} ids are in both lists (e.g. {both[0]})")
    if unknown := sorted((dev | ev) - known):
        problems.append(f"{len(unknown)} listed ids match no question (e.g. {unknown[0]})")
    if problems:
        raise ValueError(
            "the committed split does not match the data: "
            + "; ".join(problems)
            + ". Regenerate splits/ with make_splits.py only if the raw data really changed."
        )
    return [i for i in items if i.id in dev], [i for i in items if i.id in ev]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")


def public_record(item: Item) -> dict[str, Any]:
    """A dev-set line: the question with its references (what candidates may see)."""
    return {
        "id": item.id,
        "question": item.question,
        "answers": item.answers,
        "reference_doc_ids": [item.doc_id],
        "yes_no": item.yes_no,
        "difficulty": item.difficulty,
        "topic": item.topic,
    }


def hidden_record(item: Item) -> dict[str, Any]:
    record = public_record(item)
    record["reference_contexts"] = item.reference_contexts
    return record


def stats(dev: Sequence[Item], ev: Sequence[Item], items: Sequence[Item]) -> dict[str, Any]:
    def part(xs: Sequence[Item]) -> dict[str, Any]:
        return {
            "questions": len(xs),
            "yes_no": sum(i.yes_no for i in xs),
            "open": sum(not i.yes_no for i in xs),
            "with_reference_passage": sum(bool(i.reference_contexts) for i in xs),
            "by_topic": dict(sorted(Counter(i.topic for i in xs).items())),
            "by_difficulty": dict(sorted(Counter(i.difficulty for i in xs).items())),
        }

    return {"all": part(items), "dev": part(dev), "eval": part(ev)}


def prepare(sources: dict[str, Path], out: PreparedPaths, seed: int) -> None:
    """Write the corpus, the eval questions, the dev set, and the hidden references.

    ``seed`` is unused: the split is committed (see ``make_splits.py``).
    """
    docs, items = load_items(sources)
    dev, ev = apply_split(items, read_id_list(SPLITS_DIR / DEV_IDS), read_id_list(SPLITS_DIR / EVAL_IDS))
    for root in (out.inputs, out.kit):
        for doc in docs.values():
            target = root / "corpus" / f"{doc.doc_id}.txt"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(doc.raw)
        write_jsonl(root / "documents.jsonl", ({"doc_id": d.doc_id, "title": d.title} for d in docs.values()))
        write_jsonl(root / "dev.jsonl", (public_record(i) for i in dev))
    write_jsonl(out.inputs / "questions.jsonl", ({"id": i.id, "question": i.question} for i in ev))
    write_jsonl(out.kit / "questions.jsonl", ({"id": i.id, "question": i.question} for i in dev))
    write_jsonl(out.hidden / "eval.jsonl", (hidden_record(i) for i in ev))
    text = json.dumps(stats(dev, ev, items), indent=2, sort_keys=True) + "\n"
    (out.hidden / "stats.json").write_text(text, encoding="utf-8")
