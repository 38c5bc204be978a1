"""makeittalk: one portrait and a speech recording in, a lip-synced talking-head video out.

An offline re-implementation of MakeItTalk (Zhou et al., SIGGRAPH Asia 2020) that loads the
original checkpoints and ships weights trained by its own pipeline.
"""

__version__ = "0.1.0"

from makeittalk.errors import MakeItTalkError

__all__ = ["__version__", "MakeItTalkError"]
