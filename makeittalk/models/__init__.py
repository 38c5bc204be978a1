"""The MakeItTalk networks as plain nn.Modules with dataclass configs.

Each network has `save_pretrained(dir)` and `from_pretrained(name_or_path, device=None)`;
`makeittalk.weights.load_network(name)` is the usual way to get one with weights.
"""

from __future__ import annotations

from makeittalk.models.autovc import AutoVC, AutoVCConfig
from makeittalk.models.content_branch import ContentBranch, ContentBranchConfig
from makeittalk.models.discriminators import (
    FrameDiscriminator,
    FrameDiscriminatorConfig,
    TemporalDiscriminator,
    TemporalDiscriminatorConfig,
)
from makeittalk.models.pretrained import NetworkConfig, PretrainedMixin
from makeittalk.models.speaker_branch import SPEAKER_EMBEDDING_SCALE, SpeakerBranch, SpeakerBranchConfig
from makeittalk.models.mouth_translator import MouthTranslator, MouthTranslatorConfig
from makeittalk.models.translator import ImageTranslator, ImageTranslatorConfig

# Network name (as used in weight sets and load_network) -> class.
NETWORKS: dict[str, type[PretrainedMixin]] = {
    AutoVC.network_name: AutoVC,
    ContentBranch.network_name: ContentBranch,
    SpeakerBranch.network_name: SpeakerBranch,
    ImageTranslator.network_name: ImageTranslator,
    MouthTranslator.network_name: MouthTranslator,
    TemporalDiscriminator.network_name: TemporalDiscriminator,
    FrameDiscriminator.network_name: FrameDiscriminator,
}

# The four networks of the inference pipeline, in pipeline order.
INFERENCE_NETWORKS: tuple[str, ...] = ("autovc", "content_branch", "speaker_branch", "translator")

__all__ = [
    "AutoVC",
    "AutoVCConfig",
    "ContentBranch",
    "ContentBranchConfig",
    "SpeakerBranch",
    "SpeakerBranchConfig",
    "SPEAKER_EMBEDDING_SCALE",
    "ImageTranslator",
    "ImageTranslatorConfig",
    "MouthTranslator",
    "MouthTranslatorConfig",
    "TemporalDiscriminator",
    "TemporalDiscriminatorConfig",
    "FrameDiscriminator",
    "FrameDiscriminatorConfig",
    "NetworkConfig",
    "PretrainedMixin",
    "NETWORKS",
    "INFERENCE_NETWORKS",
]
