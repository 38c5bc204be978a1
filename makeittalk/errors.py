"""User-facing errors.

Every problem a user can fix (a bad file, a missing weight set, a face that cannot be found)
is raised as a MakeItTalkError whose message names the input and says what to do. The CLI
prints that message on one line; anything else is a bug and gets a traceback with --debug.
"""

from __future__ import annotations


class MakeItTalkError(Exception):
    """An error caused by the user's input or environment, with an actionable message."""


class OutputFileError(MakeItTalkError):
    """An output path that cannot be written (exists, wrong suffix, missing folder)."""


class AudioError(MakeItTalkError):
    """An audio file that cannot be used."""


class ImageError(MakeItTalkError):
    """An image file that cannot be used."""


class FaceNotFoundError(ImageError):
    """No face was found in a portrait."""


class WeightsError(MakeItTalkError):
    """Missing, corrupt or incompatible weights."""


class MissingStageError(WeightsError):
    """A pipeline stage cannot run because its weights are not installed (a set lacks a network)."""
