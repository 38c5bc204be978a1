"""The MakeItTalk web app: `python demo/app.py [--host H] [--port P] ...` (same as `makeittalk app`).

A thin launcher: the page is `makeittalk.app.build_app(config)` (a gr.Blocks) and
`makeittalk app --help` lists the options.
"""

import sys
from pathlib import Path

try:
    import makeittalk.app  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from makeittalk.app import AppConfig, build_app, main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
