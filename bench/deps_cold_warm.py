"""Candidate dependencies, cold vs warm: resolve + install a typical requirements file.

    python bench/deps_cold_warm.py [--requirements "rank-bm25\\nnltk"]

Cold: an empty dependency cache (pip's own HTTP cache is bypassed with --no-cache-dir, so the
wheels are really downloaded). Warm: the same requirements again (a batch of fifty identical
submissions pays this). Prints seconds for each phase as the pipeline records them.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from harness.api import grade
from harness.settings import Settings

SPEC = textwrap.dedent("""
    id = "bench-deps"
    title = "deps bench"
    [[graders]]
    use = "run"
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", default="rank-bm25==0.2.2\\nnltk==3.9.2\\nrapidfuzz==3.14.6")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="holdout-bench-deps-") as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "a" / "assignment.toml").write_text(SPEC)
        (root / "a" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
        sub = root / "sub"
        sub.mkdir()
        (sub / "requirements.txt").write_text(args.requirements.replace("\\n", "\n") + "\n")
        (sub / "predict.py").write_text("import rank_bm25, nltk\nprint('ok')\n")
        settings = Settings.from_env()
        settings = Settings(data_dir=settings.data_dir, cache_dir=root / "cache", image=settings.image)
        for label in ("cold", "warm"):
            started = time.perf_counter()
            report = grade(sub, root / "a", settings=settings)
            total = time.perf_counter() - started
            dep = report.provenance.get("dependencies", {})
            print(
                f"{label}: total {total:.1f} s (resolve {dep.get('resolve_s', 0):.1f} s, "
                f"install {dep.get('install_s', 0):.1f} s, cache {dep.get('cache')}, "
                f"{dep.get('download_mb')} MB) run {report.sandbox.verdict.value} {report.sandbox.duration_s:.1f} s; "
                f"installed: {', '.join(dep.get('installed', []))}"
            )


if __name__ == "__main__":
    main()
