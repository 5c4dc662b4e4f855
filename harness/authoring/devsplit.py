"""The kit's public dev split and output contract: what ``grade selfcheck`` runs a candidate's code on.

An assignment that declares ``[kit.dev]`` gets, in its starter kit::

    dev/data/<train_file>   labelled rows     } laid out like the sandbox's /data, so
    dev/data/<test_file>    unlabelled rows   } `DATA_DIR=dev/data OUTPUT_DIR=out python predict.py` works
    dev/labels.csv          the id and labels of the unlabelled rows
    dev/contract.json       the output contract (files, columns, labels) and the sandbox's limits

The rows are sampled (seeded by ``[data] seed``) from one file of the prepared ``kit/`` folder,
the data the author declared public, so no hidden row can be in it by construction; the kit's
leak scan (:mod:`harness.authoring.leaks`) checks the dev files all the same, by line and by id.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from harness.errors import ConfigError
from harness.spec import Assignment, DevSplitSpec

DEV_DIR = "dev"
DEV_DATA = f"{DEV_DIR}/data"
LABELS_FILE = f"{DEV_DIR}/labels.csv"
CONTRACT_FILE = f"{DEV_DIR}/contract.json"
MAX_SOURCE_BYTES = 512 * 2**20


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ConfigError(
            f"{path} is over {MAX_SOURCE_BYTES >> 20} MiB", hint="Point [kit.dev] source at a smaller file."
        )
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise ConfigError(f"{path} has no header row", hint="[kit.dev] source must be a CSV file with a header.")
        return header, [row for row in reader if row]


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _source(kit_dir: Path, dev: DevSplitSpec) -> Path:
    path = (kit_dir / dev.source).resolve()
    if not path.is_relative_to(kit_dir.resolve()) or not path.is_file() or (kit_dir / dev.source).is_symlink():
        raise ConfigError(
            f"[kit.dev] source {dev.source!r} is not a file of the prepared kit/ folder",
            hint="The dev split is sampled only from public kit data: have prepare.py write it into out.kit.",
        )
    return path


def build_dev_split(assignment: Assignment, kit_dir: Path, graders: list) -> dict[str, bytes]:
    """The dev split's files (path inside the kit → bytes); empty when ``[kit.dev]`` is not declared."""
    dev = assignment.spec.kit.dev
    if dev is None:
        return {}
    header, rows = _read_csv(_source(kit_dir, dev))
    missing = [c for c in (dev.id_column, *dev.label_columns) if c not in header]
    if missing:
        raise ConfigError(
            f"[kit.dev] source {dev.source} has no column(s) {', '.join(map(repr, missing))} (it has {header})",
            hint="Fix id_column / label_columns in [kit.dev].",
        )
    if len(rows) < 2:
        raise ConfigError(f"[kit.dev] source {dev.source} has fewer than 2 rows", hint="Point it at the training data.")
    id_at = header.index(dev.id_column)
    test_n = min(dev.test_rows, max(1, len(rows) // 5))
    train_n = min(dev.train_rows, len(rows) - test_n)
    picked = random.Random(assignment.spec.data.seed).sample(range(len(rows)), test_n + train_n)
    by_id = lambda indices: sorted((rows[i] for i in indices), key=lambda r: r[id_at])  # noqa: E731
    test, train = by_id(picked[:test_n]), by_id(picked[test_n:])
    keep = [i for i, c in enumerate(header) if c not in dev.label_columns]
    labels = [id_at] + [header.index(c) for c in dev.label_columns]
    train_name = dev.train_file or Path(dev.source).name
    return {
        f"{DEV_DATA}/{train_name}": _csv_bytes(header, train),
        f"{DEV_DATA}/{dev.test_file}": _csv_bytes([header[i] for i in keep], [[r[i] for i in keep] for r in test]),
        LABELS_FILE: _csv_bytes([header[i] for i in labels], [[r[i] for i in labels] for r in test]),
        CONTRACT_FILE: (json.dumps(contract(assignment, graders), indent=2) + "\n").encode(),
    }


def contract(assignment: Assignment, graders: list) -> dict:
    """What a submission must do, as far as a candidate may know it (no hidden names or values)."""
    spec = assignment.spec
    dev = spec.kit.dev
    outputs = []
    for grader in graders:
        cfg = grader.config
        if grader.PLUGIN_NAME == "predictions":
            outputs.append(
                {
                    "file": cfg.file,
                    "id_column": cfg.id_column,
                    "target_column": cfg.target_column,
                    "task": cfg.task,
                    "labels": cfg.labels,
                    "probability_column": cfg.probability_column,
                    "ids_from": dev.test_file if dev else cfg.inputs_file,
                }
            )
        else:
            outputs += [{"file": name} for name in grader.outputs()]
    return {
        "schema_version": "1",
        "assignment": spec.id,
        "version": spec.version,
        "entry": {
            "script": spec.entry.script,
            "notebook": spec.entry.notebook,
            "cell_timeout_s": spec.entry.cell_timeout_s,
        },
        "sandbox": {
            "timeout_s": spec.sandbox.timeout_s,
            "memory_mb": spec.sandbox.memory_mb,
            "cpus": spec.sandbox.cpus,
        },
        "dev": {
            "data": DEV_DATA,
            "labels": LABELS_FILE,
            "id_column": dev.id_column if dev else "id",
            "label_columns": list(dev.label_columns) if dev else [],
        },
        "outputs": outputs,
    }
