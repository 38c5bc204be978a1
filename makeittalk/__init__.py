"""makeittalk: one portrait and a speech recording in, a lip-synced talking-head video out.

An offline re-implementation of MakeItTalk (Zhou et al., SIGGRAPH Asia 2020) that loads the
original checkpoints and ships weights trained by its own pipeline.

    from makeittalk import TalkingHead
    head = TalkingHead.from_pretrained("original")
    head.render("face.jpg", "speech.wav", "talking.mp4")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from makeittalk.errors import MakeItTalkError

if TYPE_CHECKING:
    from makeittalk.pipelines.talking_head import TalkingHead

__all__ = ["__version__", "MakeItTalkError", "TalkingHead"]


def __getattr__(name: str) -> Any:
    # TalkingHead pulls in torch and the networks: import it only when asked for, so that
    # `import makeittalk` (and `makeittalk --help`) stay light.
    if name == "TalkingHead":
        from makeittalk.pipelines.talking_head import TalkingHead

        return TalkingHead
    raise AttributeError(f"module 'makeittalk' has no attribute {name!r}")
