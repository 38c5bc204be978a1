"""`makeittalk weights`: list, import and verify weight sets."""

from __future__ import annotations

import argparse

from makeittalk.cli.common import add_command, eprint
from makeittalk.errors import WeightsError


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "weights",
        summary="List, import and check weight sets.",
        description="""
            List, import and check weight sets.

            A weight set holds the four networks (AutoVC, content branch, speaker branch, image
            translator) or a subset. Shipped sets live in pretrained/; your own sets live in
            $MAKEITTALK_HOME/weights (default ~/.cache/makeittalk/weights). Choose one with
            --weights NAME in the other commands.
        """,
        examples=[
            "makeittalk weights list",
            "makeittalk weights import-original ~/Downloads/makeittalk-ckpts",
            "makeittalk weights import-original ~/Downloads/makeittalk-ckpts --trust-pickle --name original",
            "makeittalk weights verify original",
        ],
    )
    sub = parser.add_subparsers(dest="weights_command", metavar="SUBCOMMAND")

    p_list = add_command(
        sub,
        "list",
        summary="show every available weight set",
        description="Show every available weight set: name, source, licence, sha256 and the networks it covers.",
        examples=["makeittalk weights list"],
    )
    p_list.set_defaults(func=_cmd_list)

    p_imp = add_command(
        sub,
        "import-original",
        summary="convert the original MakeItTalk checkpoints into a weight set",
        description=(
            "Convert the original MakeItTalk checkpoints found in DIR (ckpt_autovc.pth, ckpt_content_branch.pth, "
            "ckpt_speaker_branch.pth, ckpt_116_i2i_comb.pth; any subset) into a weight set in your store. "
            "The original checkpoints are licensed CC BY-NC 4.0 (non-commercial use only)."
        ),
        examples=[
            "makeittalk weights import-original ~/Downloads/makeittalk-ckpts",
            "makeittalk weights import-original ckpts --trust-pickle --name original --overwrite",
        ],
    )
    p_imp.add_argument("directory", metavar="DIR", help="folder holding the original ckpt_*.pth files")
    p_imp.add_argument("--name", default="original", help="name of the new weight set (default: original)")
    p_imp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow full unpickling for files that hold Python objects (ckpt_116_i2i_comb.pth pickles its optimizer); "
        "only for files from the official download",
    )
    p_imp.add_argument("--overwrite", action="store_true", help="replace an existing weight set of the same name")
    p_imp.set_defaults(func=_cmd_import)

    p_ver = add_command(
        sub,
        "verify",
        summary="re-check the sha256 of a weight set's files (all sets by default)",
        description="Re-hash the files of a weight set (all sets by default) and compare with the recorded sha256.",
        examples=["makeittalk weights verify", "makeittalk weights verify original"],
    )
    p_ver.add_argument("name", nargs="?", metavar="NAME", help="weight set to check (default: all)")
    p_ver.set_defaults(func=_cmd_verify)

    parser.set_defaults(func=lambda args: _no_subcommand(parser))


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _cmd_list(args: argparse.Namespace) -> int:
    from makeittalk.weights import store

    sets = store.list_weight_sets()
    _, problems = store.scan_user_sets()
    default = store.default_weight_set_name()
    if default:
        print(f"default: {default}")
    else:
        print(
            f"default: none ({store.shipped_dir() / store.MANIFEST_FILE} names no default set: a broken install, "
            "or MAKEITTALK_PRETRAINED pointing elsewhere; reinstalling makeittalk restores the defaults); "
            "use --weights NAME with a set below"
        )
    if not sets:
        print(f"no weight sets installed (store: {store.user_weights_dir()})")
        print("add the original MakeItTalk checkpoints with: makeittalk weights import-original DIR")
    for ws in sets:
        where = "shipped" if ws.origin == "shipped" else "user store"
        print()
        print(f"{ws.name}  ({where}: {ws.path})")
        print(f"  source:   {ws.source}" + (f" {ws.info.get('created', '')}" if ws.origin == "user" else ""))
        print(f"  licence:  {ws.licence}" + (f" - {ws.licence_note}" if ws.licence_note else ""))
        print(f"  sha256:   {ws.sha256}")
        print(f"  networks: {', '.join(ws.networks)}")
    for line in problems:
        eprint(f"warning: not a usable weight set: {line}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from makeittalk.weights.original import LICENCE, LICENCE_NOTE, import_original

    report = import_original(
        args.directory, args.name, trust_pickle=args.trust_pickle, overwrite=args.overwrite, progress=eprint
    )
    ws = report.weight_set
    print(f"imported {len(report.imported)} network(s) into weight set {report.name!r} ({ws.path}):")
    for item in report.imported:
        epoch = f", epoch {item.epoch}" if item.epoch is not None else ""
        print(f"  {item.network:<15} from {item.file.name:<26} {item.parameters:>11,} parameters{epoch}")
        for note in item.notes:
            print(f"  {'':<15} {note}")
    if report.not_found:
        print(f"not found in the folder (skipped): {', '.join(report.not_found)}")
    print(f"sha256 {ws.sha256}")
    print(f"licence: {LICENCE}. {LICENCE_NOTE}. Recorded in {ws.path / 'weightset.json'} and NOTICE.txt.")
    print(f"use it with --weights {report.name}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from makeittalk.weights import store

    sets = [store.get_weight_set(args.name)] if args.name else store.list_weight_sets()
    if not sets:
        print("no weight sets installed; nothing to verify")
        return 0
    failed: list[str] = []
    for ws in sets:
        results = store.verify_weight_set(ws)
        bad = [(rel, detail) for rel, ok, detail in results if not ok]
        status = "ok" if not bad else "FAILED"
        print(f"{ws.name}: {status} ({len(results) - len(bad)}/{len(results)} files match)")
        for rel, detail in bad:
            print(f"  {ws.path / rel}: {detail}")
        if bad:
            failed.append(ws.name)
    if failed:
        raise WeightsError(
            f"weight set(s) {', '.join(failed)} failed verification; re-create them "
            f"(makeittalk weights import-original DIR --overwrite) or reinstall for shipped sets"
        )
    return 0
