"""bm25s' English stop words (the evaluation's BM25 baseline uses the same list), read from
its ``stopwords`` module alone: importing it as ``bm25s.stopwords`` runs the package's
``__init__``, which imports scipy, ~0.2 s of CPU at every start for a list of words."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _load() -> tuple[str, ...]:
    package = importlib.util.find_spec("bm25s")  # finds the package, does not import it
    assert package is not None and package.submodule_search_locations
    path = Path(next(iter(package.submodule_search_locations))) / "stopwords.py"
    spec = importlib.util.spec_from_file_location("_factcheck_bm25s_stopwords", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.STOPWORDS_EN)


STOPWORDS_EN = _load()
