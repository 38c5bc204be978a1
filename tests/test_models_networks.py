"""Shapes, batching, errors and save/load round trips of the networks, on tiny configs (milliseconds)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from makeittalk.errors import WeightsError
from makeittalk.models import (
    NETWORKS,
    AutoVC,
    AutoVCConfig,
    ContentBranch,
    ContentBranchConfig,
    FrameDiscriminator,
    FrameDiscriminatorConfig,
    ImageTranslator,
    ImageTranslatorConfig,
    SpeakerBranch,
    SpeakerBranchConfig,
    TemporalDiscriminator,
    TemporalDiscriminatorConfig,
)
from makeittalk.models.speaker_branch import Norm, positional_encoding

torch.manual_seed(0)


def _autovc_inputs(b: int = 2, t: int = 32):
    g = torch.Generator().manual_seed(1)
    mel = torch.rand(b, t, 80, generator=g)
    c_org = torch.rand(b, 256, generator=g)
    c_trg = torch.rand(b, 256, generator=g)
    f0 = torch.nn.functional.one_hot(torch.randint(0, 257, (b, t), generator=g), 257).float()
    return mel, c_org, c_trg, f0


# ---------------------------------------------------------------- sizes of the full networks


@pytest.mark.parametrize(
    "cls, params, keys",
    [
        (AutoVC, 14_320_960, 62),
        (ContentBranch, 1_965_677, 37),
        (SpeakerBranch, 3_000_908 - 609_088, 118 - 58),  # the original minus its unused decoder and PE buffers
        (ImageTranslator, 69_860_736, 321),
        (TemporalDiscriminator, 748_609, 43 - 1),  # minus the PE buffer
        (FrameDiscriminator, 236_545, 6),
    ],
)
def test_default_configs_have_the_original_sizes(cls, params, keys):
    with torch.device("meta"):  # no memory, no init cost
        model = cls()
    assert model.num_parameters() == params
    assert len(model.state_dict()) == keys


# ---------------------------------------------------------------- AutoVC


def test_autovc_shapes_and_entry_points_agree():
    model = AutoVC(AutoVCConfig.tiny()).eval()
    mel, c_org, c_trg, f0 = _autovc_inputs()
    with torch.inference_mode():
        mel_out, postnet, codes = model(mel, c_org, f0, c_trg, f0)
        assert mel_out.shape == postnet.shape == (2, 32, 80)
        n = 2 * model.config.neck_dim
        assert codes.shape == (2, n * 32 // 16)
        assert torch.equal(model.encode(mel, c_org), codes)
        assert torch.equal(model.convert(mel, c_org, c_trg, f0), postnet)
        single = model(mel[1:], c_org[1:], None, c_trg[1:], f0[1:])[1]
    # Batch rows are independent; batched LSTM/GEMM kernels sum in another order, hence the tolerance.
    torch.testing.assert_close(single[0], postnet[1], atol=1e-4, rtol=1e-4)


def test_autovc_codes_are_forward_end_and_backward_start_of_each_block():
    model = AutoVC(AutoVCConfig.tiny()).eval()
    mel, c_org, _, _ = _autovc_inputs(1, 48)
    enc = model.encoder
    with torch.inference_mode():
        x = torch.cat((mel.transpose(1, 2), c_org.unsqueeze(-1).expand(-1, -1, 48)), 1)
        for conv in enc.convs:
            x = torch.relu(conv(x))
        out, _ = enc.lstm(x.transpose(1, 2))
        codes = model.encode(mel, c_org).view(1, 3, -1)
    d = model.config.neck_dim
    for j in range(3):
        torch.testing.assert_close(codes[0, j, :d], out[0, 16 * j + 15, :d])
        torch.testing.assert_close(codes[0, j, d:], out[0, 16 * j, d:])


def test_autovc_rejects_lengths_that_are_not_multiples_of_16():
    model = AutoVC(AutoVCConfig.tiny())
    mel, c_org, c_trg, f0 = _autovc_inputs(1, 40)
    with pytest.raises(ValueError, match="multiple of 16"):
        model.convert(mel, c_org, c_trg, f0)
    with pytest.raises(ValueError, match="F0 one-hot"):
        model.convert(mel[:, :32], c_org, c_trg, f0)


def test_autovc_training_forward_has_gradients():
    model = AutoVC(AutoVCConfig.tiny()).train()
    mel, c_org, c_trg, f0 = _autovc_inputs()
    mel_out, postnet, codes = model(mel, c_org, f0, c_org, f0)
    (mel_out - mel).abs().mean().add((postnet - mel).abs().mean()).backward()
    assert all(p.grad is not None for p in model.parameters())


# ---------------------------------------------------------------- content branch


def test_content_branch_shapes_and_face_broadcast():
    model = ContentBranch(ContentBranchConfig.tiny()).eval()
    windows = torch.randn(5, 18, 80)
    face = torch.randn(1, 204)
    with torch.inference_mode():
        delta = model(windows, face)
        assert delta.shape == (5, 204)
        torch.testing.assert_close(model(windows, face.expand(5, -1)), delta)
        torch.testing.assert_close(model(windows, face[0]), delta)
        torch.testing.assert_close(model(windows[2:3], face)[0], delta[2])  # rows are independent


def test_content_branch_rejects_bad_shapes():
    model = ContentBranch(ContentBranchConfig.tiny())
    with pytest.raises(ValueError, match=r"\(B, 18, 80\)"):
        model(torch.randn(5, 17, 80), torch.randn(1, 204))
    with pytest.raises(ValueError, match="face_id"):
        model(torch.randn(5, 18, 80), torch.randn(3, 204))


# ---------------------------------------------------------------- speaker branch


def test_speaker_branch_sequence_and_batching():
    model = SpeakerBranch(SpeakerBranchConfig.tiny()).eval()
    windows = torch.randn(2, 7, 18, 80)
    emb = torch.rand(2, 256)
    with torch.inference_mode():
        delta, spk = model(windows, emb)  # (B,256): one embedding per sequence
        assert delta.shape == (2, 7, 204) and spk.shape == (2, 7, model.config.speaker_code)
        for b in range(2):
            one, one_spk = model(windows[b], emb[b])  # (256,) repeated over the windows
            torch.testing.assert_close(one, delta[b])
            torch.testing.assert_close(model(windows[b], emb[b].expand(7, -1))[0], one)
            torch.testing.assert_close(one_spk, spk[b])
        zeros = torch.zeros(7, model.config.z_size)
        torch.testing.assert_close(model(windows[0], emb[0], zeros)[0], delta[0])
        # The windows form ONE attention sequence: changing one window moves the others.
        changed = windows[0].clone()
        changed[0] += 1.0
        moved = model(changed, emb[0])[0]
    assert not torch.allclose(moved[3], delta[0, 3])


def test_speaker_branch_limits_sequences_to_512_windows():
    model = SpeakerBranch(SpeakerBranchConfig.tiny())
    with pytest.raises(ValueError, match="at most 512"):
        model(torch.zeros(513, 18, 80), torch.zeros(256))
    with pytest.raises(ValueError, match="speaker_embedding"):
        model(torch.zeros(4, 18, 80), torch.zeros(3, 256))


def test_speaker_branch_dropout_only_in_training():
    model = SpeakerBranch(SpeakerBranchConfig.tiny())
    windows, emb = torch.randn(6, 18, 80), torch.rand(256)
    model.train()
    a, _ = model(windows, emb)
    b, _ = model(windows, emb)
    assert not torch.equal(a, b)
    a.sum().backward()
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(windows, emb)[0], model(windows, emb)[0])
        assert not torch.equal(model(windows, emb, speaker_noise=0.01)[1], model(windows, emb)[1])


def test_positional_encoding_is_the_originals_formula():
    pe = positional_encoding(512, 64)
    assert pe.shape == (1, 512, 64)
    torch.testing.assert_close(pe[0, 1, :4], torch.tensor([0.84147096, 0.731761, 0.53316844, 0.91239583]))
    pos, i = 7, 10
    assert pe[0, pos, i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 64)), abs=1e-7)
    assert pe[0, pos, i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * (i + 1) / 64)), abs=1e-7)


def test_norm_uses_unbiased_std_with_eps_on_std():
    norm = Norm(4)
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    expected = (x - x.mean()) / (x.std(unbiased=True) + 1e-6)
    torch.testing.assert_close(norm(x), expected)


# ---------------------------------------------------------------- translator


def test_translator_shapes():
    model = ImageTranslator(ImageTranslatorConfig.tiny()).eval()
    x = torch.rand(2, 6, 64, 64)
    with torch.inference_mode():
        raw = model(x)
        assert raw.shape == (2, 3, 64, 64)
        torch.testing.assert_close(model.translate(x), torch.tanh(raw))
        torch.testing.assert_close(model(x[1:])[0], raw[1])
    with pytest.raises(ValueError, match="multiples of 64"):
        model(torch.rand(1, 6, 80, 80))


def test_translator_levels_follow_the_original_channels():
    cfg = ImageTranslatorConfig()
    assert cfg.level_channels() == [(6, 3, 64), (64, 64, 128), (128, 128, 256), (256, 256, 512), (512, 512, 512), (512, 512, 512)]


# ---------------------------------------------------------------- discriminators


def test_temporal_discriminator_windows_as_the_original():
    model = TemporalDiscriminator(TemporalDiscriminatorConfig.tiny()).eval()
    assert model.windows(20) == (8, list(range(0, 12, 2)))
    assert model.windows(5) == (4, [0])  # short sequences: one window of T - 1 frames
    with torch.inference_mode():
        scores = model(torch.randn(20, 204), torch.randn(8))
        assert scores.shape == (6, 1)
        landmarks, code = torch.randn(20, 204), torch.randn(20, 8)
        first = model(landmarks, code)[1]
        window = model.transformer(torch.cat((landmarks, code), 1)[2:10].unsqueeze(0)).max(dim=1).values
        torch.testing.assert_close(first, model.head(window)[0])


def test_frame_discriminator_scores_each_frame():
    model = FrameDiscriminator(FrameDiscriminatorConfig.tiny())
    assert model(torch.randn(3, 11, 204)).shape == (3, 11, 1)


# ---------------------------------------------------------------- save / load


def _tiny(name):
    cls = NETWORKS[name]
    return cls(cls.config_class.tiny())


def _sample_call(name, model):
    g = torch.Generator().manual_seed(3)
    if name == "autovc":
        mel, c_org, c_trg, f0 = _autovc_inputs(1, 32)
        return model(mel, c_org, f0, c_trg, f0)[1]
    if name == "content_branch":
        return model(torch.randn(3, 18, 80, generator=g), torch.randn(1, 204, generator=g))
    if name == "speaker_branch":
        return model(torch.randn(4, 18, 80, generator=g), torch.rand(256, generator=g))[0]
    if name == "translator":
        return model(torch.rand(1, 6, 64, 64, generator=g))
    if name == "mouth_translator":
        return model(torch.rand(2, 10, 32, 32, generator=g))
    if name == "temporal_discriminator":
        return model(torch.randn(12, 204, generator=g), torch.randn(8, generator=g))
    return model(torch.randn(5, 204, generator=g))


@pytest.mark.parametrize("name", list(NETWORKS))
def test_save_and_load_round_trip(name, tmp_path):
    model = _tiny(name)
    for key, buf in model.named_buffers():  # make BatchNorm statistics non-trivial
        if key.endswith(("running_mean", "running_var")):
            buf.uniform_(0.5, 1.5)
    model.eval()
    folder = model.save_pretrained(tmp_path / name)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    meta = json.loads((folder / "config.json").read_text())
    assert meta["network"] == name
    loaded = type(model).from_pretrained(folder, device="cpu")
    assert not loaded.training
    assert loaded.config == model.config  # tuples survive the JSON round trip
    with torch.inference_mode():
        torch.testing.assert_close(_sample_call(name, loaded), _sample_call(name, model), rtol=0, atol=0)


def test_loading_into_the_wrong_network_or_config_is_a_clear_error(tmp_path):
    folder = ContentBranch(ContentBranchConfig.tiny()).save_pretrained(tmp_path / "content")
    with pytest.raises(WeightsError, match="describes network 'content_branch'"):
        AutoVC.from_directory(folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["lstm_hidden"] = 32
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="shape"):
        ContentBranch.from_directory(folder)
    meta["config"]["unknown_field"] = 1
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="unknown_field"):
        ContentBranch.from_directory(folder)


def test_configs_are_frozen_dataclasses():
    for cls in NETWORKS.values():
        cfg = cls.config_class()
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.some_field = 1  # type: ignore[attr-defined]
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
