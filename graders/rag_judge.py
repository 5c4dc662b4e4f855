"""The ``rag_judge`` grader: LLM-judged faithfulness and factual correctness, when configured.

It reads the same ``answers.jsonl`` as the ``rag`` grader and asks an OpenAI-compatible
endpoint (ragas' ``Faithfulness`` and ``FactualCorrectness`` prompts, temperature 0) to judge
each answered question. Nothing here is needed for a grade: without a judge (no base URL in
the environment) the grader is ``skipped`` with an info message.

- **Configuration** comes from the host environment at grade time, never from the assignment
  file: ``GRADE_JUDGE_BASE_URL``, ``GRADE_JUDGE_MODEL`` (or ``model`` in the config) and
  ``GRADE_JUDGE_API_KEY`` by default (the variable names are configurable).
  Without them, when the assignment declares a model gateway (``[gateway]`` with a
  ``judge_model`` and a backend that is not ``offline``), the judge goes through the same
  gateway backend as the candidate (its own socket, log and recording, no budget): one
  configuration serves both, and ``replay`` reproduces the judge's answers too.
- **Cache**: each judged score is stored under ``<cache_dir>/rag_judge/`` keyed by the sample
  (question, answer, contexts, reference), the model, the metric and the prompt version, so
  grading the same submission again makes no calls.
- **Accounting**: calls, prompt and completion tokens and cache hits are measurements.
- **Failures** of the judge are ours, not the candidate's: the grader raises
  :class:`~harness.errors.GraderError`, the pipeline records an error and the report is marked
  ``needs_review``. The offline ``rag`` scores are unaffected.

Judge scores are means over every question; an unanswered question scores 0 without a call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import Field

from graders.base import GradeContext
from graders.rag import AnswerRow, EvalItem, RagConfig, RagGrader
from harness.errors import GraderError
from harness.models import GraderResult, GraderStatus, Level, Message, Visibility

CACHE_FOLDER = "rag_judge"


class RagJudgeConfig(RagConfig):
    base_url_env: str = "GRADE_JUDGE_BASE_URL"
    """Environment variable holding the judge's OpenAI-compatible base URL (``.../v1``)."""
    model: str | None = None
    """The judge model; ``model_env`` overrides it when set."""
    model_env: str = "GRADE_JUDGE_MODEL"
    api_key_env: str = "GRADE_JUDGE_API_KEY"
    """Environment variable holding the key; a local server may need none."""
    metrics: list[str] = Field(default_factory=lambda: ["faithfulness", "factual_correctness"])
    max_questions: int | None = Field(default=None, ge=1)
    """Judge only the first N questions (cost control); the others are not judged (and not counted)."""
    judge_context_chars: int = Field(default=4000, ge=100)
    """Each context's text is cut to this many characters before it is shown to the judge (the
    candidate's limit per context, ``max_context_chars``, applies when the file is read)."""
    concurrency: int = Field(default=4, ge=1, le=64)
    timeout_s: float = Field(default=60, gt=0)


@dataclass(frozen=True)
class JudgeTarget:
    base_url: str
    model: str
    api_key: str
    socket_path: str | None = None
    """The model gateway's Unix socket, when the judge goes through it."""


class JudgeCache:
    """One JSON file per judged sample under ``root``; unreadable entries count as misses."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0

    @staticmethod
    def key(metric: str, model: str, prompt_version: str, sample: dict[str, Any]) -> str:
        blob = json.dumps(
            {"metric": metric, "model": model, "prompt": prompt_version, "sample": sample},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> float | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            value = float(json.loads(path.read_text(encoding="utf-8"))["score"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return value

    def put(self, key: str, score: float) -> None:
        path = self._path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"score": score}, fh)
        os.replace(tmp, path)


class RagJudgeGrader(RagGrader):
    """LLM-judged faithfulness and factual correctness (ragas), only when a judge is configured."""

    PLUGIN_NAME = "rag_judge"
    Config = RagJudgeConfig
    DESCRIPTION = "LLM-judged faithfulness and factual correctness (ragas) from an OpenAI-compatible judge; skipped unless configured."

    def output_limits(self, output_read_bytes: int) -> list[tuple[str, str]]:
        return []  # the same file and limits as the rag grader, which states them

    @property
    def jcfg(self) -> RagJudgeConfig:
        return cast(RagJudgeConfig, self.config)

    def target(self, environ: dict[str, str] | None = None) -> JudgeTarget | None:
        """The judge named by the environment, or None when none is configured."""
        env = os.environ if environ is None else environ
        cfg = self.jcfg
        base_url = env.get(cfg.base_url_env, "").strip()
        model = env.get(cfg.model_env, "").strip() or (cfg.model or "")
        if not base_url or not model:
            return None
        return JudgeTarget(base_url=base_url, model=model, api_key=env.get(cfg.api_key_env, "").strip() or "not-needed")

    def grade(self, ctx: GradeContext) -> GraderResult:
        target = self.target()
        opener = ctx.extras.get("judge_gateway") if target is None else None
        if opener is None:
            return self._grade(ctx, target)
        with opener() as endpoint:  # the assignment's model gateway (see the module docstring)
            return self._grade(
                ctx,
                JudgeTarget(
                    base_url="http://holdout-gateway/v1",
                    model=endpoint["model"],
                    api_key="holdout-judge",
                    socket_path=endpoint["socket_path"],
                ),
            )

    def _grade(self, ctx: GradeContext, target: JudgeTarget | None) -> GraderResult:
        started = time.perf_counter()
        cfg = self.jcfg
        if target is None:
            text = (
                f"LLM-judged metrics ({', '.join(cfg.metrics)}) were skipped: no judge is configured "
                f"(set {cfg.base_url_env} and {cfg.model_env} to an OpenAI-compatible endpoint and model, or give the "
                "assignment's [gateway] a judge_model and a backend other than offline)."
            )
            return GraderResult(
                grader=self.name,
                status=GraderStatus.SKIPPED,
                messages=[
                    Message(
                        code="judge_not_configured",
                        text=text,
                        level=Level.INFO,
                        source=self.name,
                        visibility=Visibility.REVIEWER,
                    )
                ],
            )
        from graders import ragas_adapter

        unknown = [m for m in cfg.metrics if m not in ragas_adapter.JUDGE_METRICS]
        if unknown:
            raise GraderError(
                f"unknown judge metric(s) {unknown}; known: {', '.join(ragas_adapter.JUDGE_METRICS)}",
                hint="Fix graders.config.metrics of the rag_judge grader.",
            )
        items = self.load_items(ctx)
        aligned, messages = self.read_answers(ctx, items)
        rows: list[AnswerRow | None] = aligned.rows if aligned else [None] * len(items)
        pairs = list(zip(items, rows))[: cfg.max_questions]
        cache_dir = ctx.extras.get("cache_dir")
        cache = JudgeCache(Path(cache_dir) / CACHE_FOLDER if cache_dir else None)
        client = ragas_adapter.JudgeClient(
            target.base_url, target.model, target.api_key, timeout_s=cfg.timeout_s, uds=target.socket_path
        )
        try:
            scores = ragas_adapter.run_async(self._judge_all(client, cache, pairs))
        except ragas_adapter.JudgeFailure as exc:
            usage = client.usage
            raise GraderError(
                f"{exc} (after {usage.calls} judge calls, {usage.prompt_tokens + usage.completion_tokens} tokens)",
                hint=exc.hint,
            ) from None
        usage = client.usage
        measurements: dict[str, float | None] = {
            m: sum(s[m] for s in scores) / len(scores) if scores else 0.0 for m in cfg.metrics
        }
        measurements.update(
            judge_calls=float(usage.calls),
            judge_prompt_tokens=float(usage.prompt_tokens),
            judge_completion_tokens=float(usage.completion_tokens),
            judge_cache_hits=float(cache.hits),
            judged_questions=float(len(scores)),
        )
        details = {
            "judge_model": target.model,
            "prompt_version": ragas_adapter.judge_prompt_version(),
            "per_question": [{"id": item.id, **s} for (item, _), s in zip(pairs, scores)],
        }
        return GraderResult(
            grader=self.name,
            measurements=measurements,
            messages=[m for m in messages if m.level != Level.INFO],
            details=details,
            duration_s=time.perf_counter() - started,
        )

    async def _judge_all(
        self, client: Any, cache: JudgeCache, pairs: list[tuple[EvalItem, AnswerRow | None]]
    ) -> list[dict[str, float]]:
        from graders import ragas_adapter

        cfg = self.jcfg
        version = ragas_adapter.judge_prompt_version()
        gate = asyncio.Semaphore(cfg.concurrency)

        async def one(item: EvalItem, row: AnswerRow | None, metric: str) -> float:
            if row is None or not row.answer.strip():
                return 0.0
            contexts = [c.text[: cfg.judge_context_chars] for c in row.contexts[: cfg.max_contexts]]
            reference = ragas_adapter.longest(item.answers)
            sample = {"question": item.question, "answer": row.answer, "contexts": contexts, "reference": reference}
            key = JudgeCache.key(metric, client.model, version, sample)
            cached = cache.get(key)
            if cached is not None:
                return cached
            async with gate:
                score = await ragas_adapter.judge_sample(client, metric, item.question, row.answer, contexts, reference)
            cache.put(key, score)
            return score

        try:
            results = await asyncio.gather(
                *(one(item, row, m) for item, row in pairs for m in cfg.metrics), return_exceptions=True
            )
        finally:
            await client.close()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        n = len(cfg.metrics)
        return [dict(zip(cfg.metrics, results[i * n : (i + 1) * n])) for i in range(len(pairs))]
