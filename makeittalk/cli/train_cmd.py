"""`makeittalk train autovc|content|speaker|translator`: train one network."""

from __future__ import annotations

import argparse
import os

from makeittalk.cli.common import add_command, eprint

TRAINERS = ("autovc", "content", "speaker", "translator", "mouth-translator")


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "train",
        summary="Train one of the networks on a prepared dataset.",
        description="""Train one network on datasets made by 'makeittalk data prepare'.

        The run folder gets config.yaml, checkpoint.pt (resume point), train_log.csv,
        val_log.csv, summary.json and the weights in the project's format: weights/<network>/
        (latest epoch) and best/<network>/ (lowest val_loss, or the best_metric setting), each with the config and a
        description of the training data embedded. Running the same command again resumes after
        the last finished epoch. Under torchrun every process trains a shard (DDP: NCCL on CUDA,
        gloo on CPU); the command is the same.""",
        examples=[
            "makeittalk train autovc --config makeittalk/training/configs/autovc.yaml --data data/speech --out runs/autovc",
            "makeittalk train content --config content.yaml --data data/talking data/lips --out runs/content",
            "makeittalk train speaker --data data/talking --out runs/speaker --set epochs=5 --set lr=3e-4",
            "torchrun --standalone --nproc_per_node 4 -m makeittalk train content --config content.yaml --data data/talking --out runs/c4",
        ],
        notes="""
        Configs: YAML files of the trainer's settings (makeittalk/training/configs/ holds the ones
        that trained the shipped weights); --set KEY=VALUE overrides one setting (model.KEY for
        the network's own config). Without --config every setting has its default.
        """,
    )
    parser.add_argument("trainer", choices=TRAINERS, help="which network to train")
    parser.add_argument("--config", metavar="CONFIG.yaml", help="training settings (YAML)")
    parser.add_argument("--data", metavar="DATASET_DIR", nargs="+", required=True,
                        help="one or more prepared dataset folders")
    parser.add_argument("--out", metavar="RUN_DIR", required=True, help="run folder (created; reused to resume)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override one config setting (repeatable)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the config's, else automatic)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from makeittalk.training import load_config, run_training
    from makeittalk.training.tasks import get_task

    task = get_task(args.trainer)
    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    config = load_config(task.config_class, args.config, overrides, task=args.trainer)
    summary = run_training(task, config, args.data, args.out, log=eprint)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only the main process reports
    best = " ".join(f"{k} {v:.4g}" for k, v in summary.best_val.items())
    eprint(f"{args.trainer}: {summary.epochs_done} epoch(s), {summary.steps} step(s) in {summary.seconds:.0f} s; "
           f"best epoch {summary.best_epoch}: {best}")
    eprint(f"weights: {summary.best_dir} (best), {summary.weights_dir} (latest)")
    return 0
