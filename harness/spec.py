"""Declared things: the assignment spec (``assignment.toml``) and its parts.

Validated with pydantic; unknown keys are rejected, and every error names the TOML path
(``graders[1].config.metric``) and, where it can, the closest valid key.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import SpecError
from harness.models import ReportStatus

SPEC_FILE = "assignment.toml"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Spec):
    """One raw data file, found by ``name`` under the data directory and checked by sha256."""

    name: str
    sha256: str
    url: str | None = None
    archive_member: str | None = None
    """When ``url`` is a zip archive: the member to extract."""

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError("must be 64 hex digits")
        return value

    @field_validator("name")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts or not parts:
            raise ValueError("must be a relative path inside the data directory")
        return value


class DataSpec(_Spec):
    sources: list[SourceSpec] = Field(default_factory=list)
    prepare: str = "prepare.py"
    """A Python file in the assignment folder defining ``prepare(sources, out, seed)``."""
    seed: int = 0
    resources: list[SourceSpec] = Field(default_factory=list)
    """Data files every run may read at ``/resources/<name>`` (e.g. ``nltk_data/corpora/...``,
    with ``NLTK_DATA=/resources/nltk_data``): found and checked like sources, never downloaded
    by the candidate's code (the sandbox has no network)."""


class EntrySpec(_Spec):
    """Where the candidate's code starts. The first one present in the submission is used."""

    script: str | None = "predict.py"
    notebook: str | None = "solution.ipynb"
    cell_timeout_s: float = Field(default=120, gt=0)


class SandboxSpec(_Spec):
    """Resource limits for the candidate's container."""

    timeout_s: float = Field(default=300, gt=0)
    memory_mb: int = Field(default=2048, ge=64)
    cpus: float = Field(default=1.0, gt=0)
    pids: int = Field(default=256, ge=16)
    tmpfs_mb: int = Field(default=512, ge=16)
    file_size_mb: int = Field(default=256, ge=1)
    """Largest single file any process may write (``fsize`` ulimit)."""
    nofile: int = Field(default=1024, ge=64)
    output_read_mb: int = Field(default=64, ge=1)
    """Largest output file the host will read back."""


class DependenciesSpec(_Spec):
    """What a submission may install from its ``requirements.txt`` (resolved on the host as
    binary wheels only, installed inside a sandbox with no network)."""

    enabled: bool = True
    max_download_mb: int = Field(default=500, ge=1)
    """Total size of the wheels one submission may pull in (a bare ``torch`` is GBs)."""
    allow: list[str] = Field(default_factory=list)
    """If not empty, only these projects may be requested."""
    deny: list[str] = Field(default_factory=list)
    allow_repin: bool = False
    """May the candidate pin other versions of the image's preinstalled packages?"""
    install_timeout_s: float = Field(default=300, gt=0)


# --- model gateway (sandbox/gateway/) -------------------------------------------------------
class GatewayPriceSpec(_Spec):
    """USD per million tokens for one model name (as the candidate calls it)."""

    prompt: float = Field(default=0, ge=0)
    completion: float = Field(default=0, ge=0)


class GatewaySpec(_Spec):
    """A metered, logged OpenAI-compatible model endpoint for the candidate's code
    (``[gateway]``; see :mod:`sandbox.gateway`). The operator may override ``backend``
    (``GRADE_GATEWAY_BACKEND``) and the upstream (``GRADE_GATEWAY_BASE_URL``)."""

    enabled: bool = True
    backend: Literal["offline", "openai-compatible", "replay"] = "offline"
    models: dict[str, str] = Field(
        default_factory=lambda: {"gpt-4o-mini": "gpt-4o-mini", "text-embedding-3-small": "text-embedding-3-small"}
    )
    """Model names the candidate may call -> the name sent upstream (the allow-list)."""
    base_url: str | None = None
    """``openai-compatible``: the upstream's base URL (``.../v1``)."""
    api_key_env: str = "GRADE_GATEWAY_API_KEY"
    """Host environment variable holding the upstream key (never passed to the sandbox)."""
    api_key_file: str | None = None
    """Or a host file holding it (the variable wins when both are set)."""
    max_tokens: int = Field(default=200_000, ge=0)
    """Prompt + completion tokens one submission may use (0: no limit)."""
    max_requests: int = Field(default=2_000, ge=0)
    max_cost_usd: float = Field(default=0, ge=0)
    """Spend limit where ``prices`` are configured (0: no limit)."""
    prices: dict[str, GatewayPriceSpec] = Field(default_factory=dict)
    max_request_kb: int = Field(default=1024, ge=1)
    max_completion_tokens: int = Field(default=1024, ge=1)
    """Reserved per call when the request names no ``max_tokens``."""
    concurrency: int = Field(default=4, ge=1, le=64)
    timeout_s: float = Field(default=60, gt=0)
    """Per upstream call."""
    embedding_dim: int = Field(default=384, ge=8, le=4096)
    """``offline``: dimension of the feature-hashed embeddings."""
    judge_model: str | None = None
    """The model the harness's own LLM judge uses through this gateway (``rag_judge``)."""


class GraderSpec(_Spec):
    use: str
    name: str | None = None
    """Name under which measurements are published; defaults to ``use``."""
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name or self.use


class CriterionSpec(_Spec):
    """A rubric row. Automated rows map one measurement to a level through ``thresholds``."""

    id: str
    title: str
    kind: Literal["automated", "human"] = "automated"
    weight: float = Field(default=0, ge=0)
    measurement: str | None = None
    """``<grader>.<measurement>``, e.g. ``predictions.f1``."""
    thresholds: list[float] = Field(default_factory=list)
    """Four values: the measurement needed for levels 2, 3, 4 and 5."""
    greater_is_better: bool = True
    pass_level: int = Field(default=3, ge=1, le=5)
    guide: dict[str, str] = Field(default_factory=dict)
    """For reviewers: what each level (``"1"``..``"5"``) looks like."""

    @model_validator(mode="after")
    def _check(self) -> CriterionSpec:
        bad_keys = sorted(set(self.guide) - {"1", "2", "3", "4", "5"})
        if self.kind == "human" and bad_keys:
            raise ValueError(
                f"a panel criterion's guide is keyed by level '1'..'5', not {', '.join(map(repr, bad_keys))}"
            )
        if self.kind == "human" and (self.measurement or self.thresholds):
            raise ValueError("a human (panel) criterion is scored by reviewers: drop 'measurement' and 'thresholds'")
        if self.kind == "automated":
            if not self.measurement:
                raise ValueError("an automated criterion needs 'measurement' (e.g. 'predictions.f1')")
            if len(self.thresholds) != 4:
                raise ValueError("'thresholds' needs four values: the measurement for levels 2, 3, 4, 5")
            ordered = sorted(self.thresholds, reverse=not self.greater_is_better)
            if list(self.thresholds) != ordered:
                raise ValueError("'thresholds' must be monotonic in the direction of 'greater_is_better'")
        return self


class RubricSpec(_Spec):
    criteria: list[CriterionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RubricSpec:
        seen: set[str] = set()
        for c in self.criteria:
            if c.id in seen:
                raise ValueError(f"criterion id {c.id!r} is used twice")
            seen.add(c.id)
        return self


class PanelSpec(_Spec):
    """The reviewer panel for the rubric's human criteria (``[panel]``)."""

    reviewers: int = Field(default=2, ge=1, le=50)
    """How many reviewers must score every panel criterion before the final score exists."""
    target_hours: float = Field(default=48, gt=0)
    """Decide within this many hours of grading; ``grade panel`` lists who waits longer."""
    min_candidates: int = Field(default=5, ge=2)
    """Below this many candidates with two or more reviews, calibration says "not enough data yet"."""


class CanarySpec(_Spec):
    """A submission bundled with the assignment and the outcome it must get (``grade check``)."""

    name: str
    path: str
    """Folder relative to the assignment root."""
    min_score: float | None = None
    max_score: float | None = None
    verdict: str | None = None
    """Expected sandbox verdict (``ok``, ``timeout``, ``crashed``, ``no_output`` ...)."""
    status: ReportStatus | None = ReportStatus.GRADED
    """Expected report status; ``awaiting_panel`` counts as ``graded``."""
    message: str | None = None
    """A message code the report must contain (``missing_ids``, ``network_unreachable`` ...)."""
    metrics: dict[str, list[float]] = Field(default_factory=dict)
    """Measurement name -> [low, high] range it must fall in."""
    timeout_s: float | None = Field(default=None, gt=0)
    """A shorter wall-clock limit for this canary (a canary that hangs need not take the full limit)."""


class IntakeSpec(_Spec):
    """The ``[intake]`` table: overrides of the archive limits that
    :class:`harness.intake.IntakeLimits` applies (sizes in bytes); unset keys keep its defaults."""

    archive_bytes: Annotated[int, Field(gt=0, strict=True)] | None = None
    entries: Annotated[int, Field(gt=0, strict=True)] | None = None
    total_bytes: Annotated[int, Field(gt=0, strict=True)] | None = None
    member_bytes: Annotated[int, Field(gt=0, strict=True)] | None = None
    ratio: Annotated[float, Field(gt=0)] | None = None
    depth: Annotated[int, Field(gt=0, strict=True)] | None = None
    path_length: Annotated[int, Field(gt=0, strict=True)] | None = None
    name_length: Annotated[int, Field(gt=0, strict=True)] | None = None

    @field_validator("ratio", mode="before")
    @classmethod
    def _no_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a positive number")
        return value

    def overrides(self) -> dict[str, int | float]:
        """Only the limits the author set."""
        return self.model_dump(exclude_none=True)


class AssignmentSpec(_Spec):
    id: str
    title: str
    version: str = "1"
    kind: Literal["classification", "regression", "rag", "other"] = "other"
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)
    entry: EntrySpec = Field(default_factory=EntrySpec)
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    dependencies: DependenciesSpec = Field(default_factory=DependenciesSpec)
    graders: list[GraderSpec] = Field(default_factory=list)
    rubric: RubricSpec = Field(default_factory=RubricSpec)
    panel: PanelSpec = Field(default_factory=PanelSpec)
    canaries: list[CanarySpec] = Field(default_factory=list)
    gateway: GatewaySpec | None = None  # gateway (issue 14): a model endpoint for the candidate
    intake: IntakeSpec = Field(default_factory=lambda: IntakeSpec())
    """Overrides of the archive limits (:class:`IntakeSpec`). They apply to submissions that name
    this assignment in their manifest too: those are unpacked with the defaults first, then
    checked again."""


class Assignment(BaseModel):
    """A loaded assignment: its spec and the folder it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    spec: AssignmentSpec
    root: Path

    @property
    def id(self) -> str:
        return self.spec.id


def _toml_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec model that owns the field at ``loc`` (to suggest close keys)."""
    model: Any = AssignmentSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return None
        model = candidates[0]
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def spec_error_from(exc: ValidationError, source: str) -> SpecError:
    """Translate a pydantic error into one :class:`SpecError` naming each TOML path."""
    lines = []
    hint = f"Fix {source} and run `grade check` again."
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _toml_path(loc)
        text = err["msg"]
        if err["type"] == "extra_forbidden" and loc:
            owner = _model_at(loc)
            if owner is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
                text = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
                if not close:
                    text += f" (valid keys: {', '.join(owner.model_fields)})"
        lines.append(f"{path or '(top level)'}: {text}")
    return SpecError("invalid assignment spec:\n  " + "\n  ".join(lines), path=source, hint=hint)


def parse_spec(data: dict[str, Any], source: str = SPEC_FILE) -> AssignmentSpec:
    try:
        return AssignmentSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from(exc, source) from None


def load_assignment(path: Path) -> Assignment:
    """Load ``path`` (a folder holding ``assignment.toml``, or the file itself)."""
    path = Path(path)
    file = path / SPEC_FILE if path.is_dir() else path
    if not file.is_file():
        raise SpecError(
            f"no {SPEC_FILE} at {file}",
            hint="Point at an assignment folder; `grade list assignments` shows the known ones.",
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot parse {file.name}: {exc}", path=str(file), hint="Fix the TOML syntax.") from None
    return Assignment(spec=parse_spec(data, str(file)), root=file.parent.resolve())
