"""One submission's gateway, from start to report: a fresh socket folder (bind-mounted into
the sandbox, with the forwarder beside the socket), a private log folder the container never
sees, the recording for ``replay``, and the summary the report shows."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.errors import ConfigError
from sandbox.gateway import FORWARDER
from sandbox.gateway.backends import Recording
from sandbox.gateway.config import GatewayConfig
from sandbox.gateway.server import GatewayServer
from sandbox.gateway.usage import read_log, summarize

LOG_NAME = "calls.jsonl"


def recording_dir(cache_dir: Path, assignment_id: str, submission_sha256: str) -> Path:
    return Path(cache_dir) / "gateway" / "recordings" / assignment_id / submission_sha256[:32]


class JobGateway:
    """``start()`` before the candidate's run, ``finish()`` after it (also on failure)."""

    def __init__(self, config: GatewayConfig, job_dir: Path, recordings: Path, name: str = "gateway") -> None:
        if config.backend == "replay" and not recordings.is_dir():
            raise ConfigError(
                "the replay gateway backend has no recording for this submission",
                hint="Grade it once with the offline or openai-compatible backend first; replay only "
                "reproduces a recorded run.",
            )
        self.config = config
        self.folder = Path(job_dir) / name  # mounted read-only into the sandbox
        self.log_path = Path(job_dir) / f"{name}-log" / LOG_NAME  # host only
        self.server = GatewayServer(config, self.folder, self.log_path, recording=Recording(recordings))
        self.healthy: bool | None = None

    def start(self) -> JobGateway:
        self.server.start()
        shutil.copyfile(FORWARDER, self.folder / FORWARDER.name)
        (self.folder / FORWARDER.name).chmod(0o644)
        return self

    def finish(self) -> dict:
        """Stop serving and summarise; ``healthy`` is False when the gateway died during the run."""
        alive = self.server.alive()
        self.healthy = alive and not self.server.failures
        self.server.stop()
        failures = ([] if alive else ["the gateway stopped answering during the run"]) + self.server.failures
        return summarize(read_log(self.log_path), self.server.budget.snapshot(), self.config.public(), failures)
