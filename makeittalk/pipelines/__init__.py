"""Pipelines: audio -> landmarks -> frames -> video."""
