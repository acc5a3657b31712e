"""The benchmark's outputs: a Markdown table (printed and saved), the JSON of every figure, and
a PNG of check latency against corpus size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB; "
        f"load average before {m['load_before']}, after {m['load_after']}; "
        f"commit {m['commit']}; {results['label']}",
        "",
        "| statements | ready s (first / all workers) | c | p50 ms | p95 ms | p99 ms | req/s "
        "| errors | workers RSS / PSS, all PSS MB | bare ST p50 ms | bm25s p50 ms | p50 vs ST "
        "| p50 vs bm25s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        st = run["baselines"].get("sentence_transformers", {}).get("p50_ms")
        bm = run["baselines"].get("bm25s", {}).get("p50_ms")
        mem = run["memory_after"]
        for load in run["load"]:
            lines.append(
                f"| {run['statements']:,} | {run['ready_s']:.2f} / {run['all_ready_s']:.2f} "
                f"| {load['concurrency']} | {load['p50_ms']} | {load['p95_ms']} "
                f"| {load['p99_ms']} | {load['rps']} | {load['errors']} "
                f"| {mem['workers_rss_mb']} / {mem['workers_pss_mb']}, {mem.get('total_pss_mb')} "
                f"| {st} | {bm} "
                f"| {_ratio(load['p50_ms'], st)} | {_ratio(load['p50_ms'], bm)} |"
            )
    for run in results["runs"]:
        a = run.get("ann", {})
        if "ranked_recall_at_10" in a:
            built = f"built in {a['ann_build_s']} s" if a.get("ann_built") else "already saved"
            lines.append(
                f"Approximate index at {run['statements']:,} ({built}): recall@10 against the "
                f"exact scan {a['dense_recall_at_10']} (dense top 10), "
                f"{a['ranked_recall_at_10']} (the check's ranked list), over {a['claims']} "
                f"claims; in-process ranking p50 {a['rank_p50_ms_ann']} ms against "
                f"{a['rank_p50_ms_exact']} ms exact."
            )
    ingest = results.get("ingest")
    if ingest:
        lines += [
            "",
            f"Ingest through POST /v1/articles: {ingest['statements']} statements in "
            f"{ingest['seconds']} s with {ingest['clients']} clients = "
            f"**{ingest['statements_per_s']} statements/s**, {ingest['errors']} errors.",
        ]
    for run in results["runs"]:
        vis = run.get("visibility")
        if vis:
            lines.append(
                f"Ingest-to-visible under c={run['load'][-1]['concurrency']} load at "
                f"{run['statements']:,}: a posted article was found by the next check within "
                f"{vis['worst_s']} s at worst ({vis['attempts']} probes, that check's queueing "
                f"included); never found {vis['never_found']}, missed by a later check on any "
                f"worker {vis['missed_after_found']} times."
            )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results["runs"], key=lambda r: r["statements"])
    sizes = [r["statements"] for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    concurrencies = sorted({load["concurrency"] for r in runs for load in r["load"]})
    for c in concurrencies:
        for q, style in (("p50_ms", "-o"), ("p99_ms", ":o")):
            ys = [next(x[q] for x in r["load"] if x["concurrency"] == c) for r in runs]
            ax.plot(sizes, ys, style, label=f"factcheck c={c} {q[:3]}")
    st = [r["baselines"].get("sentence_transformers", {}).get("p50_ms") for r in runs]
    bm = [r["baselines"].get("bm25s", {}).get("p50_ms") for r in runs]
    if all(st):
        ax.plot(sizes, st, "--s", label="bare sentence-transformers p50")
    if all(bm):
        ax.plot(sizes, bm, "--^", label="bm25s p50")
    ax.set_xscale("log")
    ax.set_yscale("log")  # 10k..1M spans two decades of latency
    ax.set_xlabel("statements in the index")
    ax.set_ylabel("latency per check (ms)")
    ax.set_title("/v1/check latency vs corpus size (2 workers, loopback)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(results: dict[str, Any], out: Path, png: Path | None) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "results.md").write_text(table)
    if png is not None:
        plot(results, png)
    return table
