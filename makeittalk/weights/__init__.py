"""Weight sets: the store, the shipped manifest, loading networks and importing the original checkpoints.

    from makeittalk.weights import load_network
    content = load_network("content_branch", weights="original")   # eval mode, device picked at run time
"""

from __future__ import annotations

from typing import Any

from makeittalk.weights.store import (
    DEFAULT,
    WeightSet,
    default_weight_set_name,
    get_weight_set,
    list_weight_sets,
    load_network,
    shipped_dir,
    user_weights_dir,
    verify_weight_set,
    weights_home,
    write_weight_set,
)

__all__ = [
    "DEFAULT",
    "WeightSet",
    "default_weight_set_name",
    "get_weight_set",
    "list_weight_sets",
    "load_network",
    "shipped_dir",
    "user_weights_dir",
    "verify_weight_set",
    "weights_home",
    "write_weight_set",
    "import_original",
]


def __getattr__(name: str) -> Any:
    # The importer pulls in torch and the models; keep `import makeittalk.weights` light.
    if name == "import_original":
        from makeittalk.weights.original import import_original

        return import_original
    raise AttributeError(f"module 'makeittalk.weights' has no attribute {name!r}")
