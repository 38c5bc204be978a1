"""Seconds per optimizer step of each trainer at the shipped configs, on synthetic tensors.

    python benchmarks/bench_training.py [--device cpu] [--threads N] [--steps 5]

Builds each network with the model settings of makeittalk/training/configs/*.yaml and times
forward + backward + Adam on batches of the configured size (data loading excluded; the
trainers hold their data in memory). The speaker branch is timed with and without its GAN terms.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from makeittalk.models import (
    AutoVC,
    AutoVCConfig,
    ContentBranch,
    ContentBranchConfig,
    FrameDiscriminator,
    SpeakerBranch,
    SpeakerBranchConfig,
    TemporalDiscriminator,
    TemporalDiscriminatorConfig,
)
from makeittalk.training import load_config
from makeittalk.training.losses import landmark_l1, laplacian_l1, lsgan_generator
from makeittalk.training.tasks import get_task

CONFIGS = Path(__file__).resolve().parents[1] / "makeittalk" / "training" / "configs"


def timed(step, steps: int) -> float:
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cfg = {name: load_config(get_task(name).config_class, CONFIGS / f"{name}.yaml", task=name)
           for name in ("autovc", "content", "speaker")}

    c = cfg["autovc"]
    net = AutoVC(AutoVCConfig.from_dict(c.model)).to(dev)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    mel = torch.rand(c.batch_size, c.crop_frames, 80, device=dev)
    emb = torch.rand(c.batch_size, 256, device=dev)
    f0 = torch.zeros(c.batch_size, c.crop_frames, 257, device=dev)

    def autovc_step():
        out, post, codes = net(mel, emb, None, emb, f0)
        loss = ((out - mel) ** 2).mean() + ((post - mel) ** 2).mean() + (net.encode(post, emb) - codes).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    rows = [("autovc", f"{c.batch_size} x {c.crop_frames} frames", timed(autovc_step, args.steps))]

    c = cfg["content"]
    content = ContentBranch(ContentBranchConfig.from_dict(c.model)).to(dev)
    copt = torch.optim.Adam(content.parameters(), 1e-4)
    windows = torch.rand(c.batch_size, 18, 80, device=dev)
    faces = torch.rand(c.batch_size, 204, device=dev)
    mask = torch.ones(c.batch_size, 68, device=dev)

    def content_step():
        pred = faces + content(windows, faces)
        loss = landmark_l1(pred, faces, mask, lip_weighted=True) + laplacian_l1(pred, faces, mask)
        copt.zero_grad()
        loss.backward()
        copt.step()

    rows.append(("content", f"{c.batch_size} windows", timed(content_step, args.steps)))

    c = cfg["speaker"]
    speaker = SpeakerBranch(SpeakerBranchConfig.from_dict(c.model)).to(dev)
    sopt = torch.optim.Adam(speaker.parameters(), 1e-4)
    s = c.segment_windows
    seq = torch.rand(c.batch_size, s, 18, 80, device=dev)
    spk = torch.rand(c.batch_size, s, 256, device=dev)
    q = torch.rand(1, 204, device=dev)
    d_t = TemporalDiscriminator(TemporalDiscriminatorConfig.from_dict({"step": 16, "ff_hidden": 256})).to(dev)
    d_l = FrameDiscriminator().to(dev)
    ones = torch.ones(c.batch_size * s, 68, device=dev)

    def speaker_step(gan: bool):
        delta, code = speaker(seq, spk)
        pred = (q + delta.reshape(-1, 204))
        loss = landmark_l1(pred, q.expand_as(pred), ones, lip_weighted=False) + laplacian_l1(pred, q.expand_as(pred), ones)
        if gan:
            for b in range(c.batch_size):
                rows_b = pred[b * s : (b + 1) * s]
                loss = loss + 0.1 * lsgan_generator(d_t(rows_b, code[b].detach())) + 0.1 * lsgan_generator(d_l(rows_b))
        sopt.zero_grad()
        loss.backward()
        sopt.step()

    rows.append(("speaker", f"{c.batch_size} x {s} windows", timed(lambda: speaker_step(False), args.steps)))
    rows.append(("speaker + GAN (G side)", f"{c.batch_size} x {s} windows", timed(lambda: speaker_step(True), args.steps)))

    print(f"device {dev}, torch threads {torch.get_num_threads()}")
    print(f"{'trainer':24s} {'batch':24s} s/step")
    for name, batch, sec in rows:
        print(f"{name:24s} {batch:24s} {sec:.3f}")


if __name__ == "__main__":
    main()
