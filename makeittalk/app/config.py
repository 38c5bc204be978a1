"""Settings of the web app (no gradio import here: `makeittalk --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


@dataclass
class AppConfig:
    """Everything `makeittalk app` / `python demo/app.py` can set.

    `weights="auto"` picks, per request, the shipped default set if there is one, else an
    installed set named "original", else the first installed set with the landmark networks;
    with none, the page says how to import the original checkpoints.
    """

    host: str = DEFAULT_HOST
    port: int | None = DEFAULT_PORT  # None: the first free port from 7860 up (gradio's rule)
    weights: str = "auto"
    device: str | None = None
    # Upload limits: gradio rejects bigger files before they reach the server's disk.
    max_upload_mb: float = 25.0
    max_audio_seconds: float = 60.0
    max_text_chars: int = 2000
    max_image_side: int = 4096
    # A request queue: `concurrency` renders run at once, up to `queue_size` wait.
    concurrency: int = 1
    queue_size: int = 16
    # Where generated files live. None: a fresh private temp folder, removed at exit. Only
    # this folder (gradio's upload cache sits inside it) is ever served back.
    work_dir: Path | None = None
    # Saved puppets; None: $MAKEITTALK_HOME/puppets.
    puppets_dir: Path | None = None
    # Load the networks in the background at launch so the first click does not wait for them.
    warm_up: bool = True
    # How long generated files stay (seconds); gradio's cache cleaner runs every hour.
    keep_outputs_s: int = 24 * 3600
    quiet: bool = False

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def resolved_puppets_dir(self) -> Path:
        if self.puppets_dir is not None:
            return Path(self.puppets_dir)
        from makeittalk.weights import weights_home

        return weights_home() / "puppets"

    def validate(self) -> None:
        from makeittalk.errors import MakeItTalkError

        if not (0 < self.max_upload_mb <= 4096):
            raise MakeItTalkError(f"--max-upload-mb must be between 0 and 4096, got {self.max_upload_mb:g}")
        if not self.max_audio_seconds > 0:
            raise MakeItTalkError(f"--max-audio-seconds must be > 0, got {self.max_audio_seconds:g}")
        if self.concurrency < 1:
            raise MakeItTalkError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.queue_size < 1:
            raise MakeItTalkError(f"--queue-size must be at least 1, got {self.queue_size}")
        if self.port is not None and not (0 < self.port < 65536):
            raise MakeItTalkError(f"--port must be between 1 and 65535, got {self.port}")
        if self.max_image_side < 64:
            raise MakeItTalkError(f"--max-image-side must be at least 64, got {self.max_image_side}")

