"""`factcheck ingest` against bare sentence-transformers on the same statements.

    python -m bench.cli_ingest CORPUS.jsonl [--old REV] [--threads N]

factcheck: `factcheck ingest --quiet` into a fresh SQLite store in a temporary folder, as a
user runs it; statements/s = statements added / the command's wall time (start-up, model
load, reading, validation, segmentation, embedding and the writes included).
Bare: `SentenceTransformer(path).encode(texts, batch_size=64)` on torch with its default
threads, over the very statements the service stores (the corpus segmented by the service's
own rules); statements/s = statements / the encode call's time alone. Each side runs in its
own process, back to back. ``--old REV`` also runs the ingest of an older commit (git archive).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"; (\d+) statements added")

BARE = """
import json, sys, time
from sentence_transformers import SentenceTransformer
from service.core.embed import resolve_model_path
from service.config import DEFAULT_MODEL
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device="cpu")
started = time.perf_counter()
model.encode(texts, batch_size=64, show_progress_bar=False)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def statements_of(corpus: Path) -> list[str]:
    """The statement texts the service would store for the corpus, in order."""
    from service.config import Config
    from service.core.ingest import Limits, validate_article
    from service.core.segment import segment
    from service.documents.files import read_records

    limits = Limits.of(Config())
    texts: list[str] = []
    for record in read_records(corpus):
        fields = validate_article(record.fields, limits)
        texts += [s.text for s in segment(fields["text"], language=fields.get("language") or "en")]
    return texts


def run_ingest(corpus: Path, cwd: Path, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cli-ingest-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACTCHECK_")}
        env["PYTHONPATH"] = str(cwd)
        command = [sys.executable, "-m", "service.cli", "ingest", "--quiet"]
        command += ["--store", f"sqlite:///{folder}/factcheck.db", *extra, str(corpus)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    found = SUMMARY.search(done.stdout)
    if found is None:
        raise SystemExit(f"ingest failed: {done.stdout}{done.stderr}")
    statements = int(found.group(1))
    return {"statements": statements, "seconds": seconds, "per_s": statements / seconds}


def run_bare(texts: list[str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(texts, handle)
        handle.flush()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", BARE, handle.name], env=env, capture_output=True, text=True
        )
    if done.returncode:
        raise SystemExit(done.stderr)
    seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return {"statements": len(texts), "seconds": seconds, "per_s": len(texts) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--old", metavar="REV", help="also time the ingest of this commit")
    parser.add_argument("--threads", type=int, help="passed to factcheck ingest --threads")
    args = parser.parse_args()
    texts = statements_of(args.corpus)
    extra = ["--threads", str(args.threads)] if args.threads else []
    report: dict[str, object] = {"corpus": str(args.corpus), "load_before": os.getloadavg()}
    report["factcheck"] = run_ingest(args.corpus, ROOT, extra)
    report["bare_encode"] = run_bare(texts)
    if args.old:
        with tempfile.TemporaryDirectory(prefix="cli-ingest-old-") as old:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.old], capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
            report[f"factcheck@{args.old}"] = run_ingest(args.corpus, Path(old), [])
    report["load_after"] = os.getloadavg()
    new, bare = report["factcheck"], report["bare_encode"]
    assert isinstance(new, dict) and isinstance(bare, dict)
    report["ratio"] = new["per_s"] / bare["per_s"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
