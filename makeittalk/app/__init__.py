"""The local web app: one portrait + speech -> a talking-head video, in the browser.

    from makeittalk.app import AppConfig, build_app
    build_app(AppConfig(port=7861)).launch()

or `makeittalk app` / `python demo/app.py`. Gradio is imported only when `build_app` or
`launch` is first used, and always with its analytics turned off.
"""

from __future__ import annotations

import os
from typing import Any

from makeittalk.app.config import DEFAULT_HOST, DEFAULT_PORT, AppConfig

__all__ = ["AppConfig", "DEFAULT_HOST", "DEFAULT_PORT", "build_app", "launch", "main"]


def __getattr__(name: str) -> Any:
    if name == "build_app":
        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
        from makeittalk.app import ui

        return getattr(ui, name)
    raise AttributeError(f"module 'makeittalk.app' has no attribute {name!r}")


def launch(config: AppConfig | None = None, **launch_kwargs: Any):
    """Serve the page (blocks until Ctrl+C or SIGTERM unless prevent_thread_lock=True).

    The app's folders exist before gradio is imported: gradio fixes its cache folder at import
    time, and would otherwise leave an empty one in the system's temporary folder.
    """
    from makeittalk.app.service import AppService

    config = config or AppConfig()
    service = AppService(config)
    os.environ["GRADIO_TEMP_DIR"] = str(service.gradio_dir)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from makeittalk.app import ui

    return ui.launch(config, service=service, **launch_kwargs)


def main(argv: list[str] | None = None) -> int:
    """`makeittalk app` with `argv` (what `python demo/app.py` runs)."""
    import sys

    from makeittalk.cli.main import main as cli_main

    return cli_main(["app", *(sys.argv[1:] if argv is None else argv)])
