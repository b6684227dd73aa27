"""The printed table and the JSON file of the benchmark suite."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from tests.bench.stats import difference


def write_json(document: dict[str, Any], path: Path) -> Path:
    """Atomically: a reader (or a crashed run) never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def fmt(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(document: dict[str, Any]) -> str:
    lines = [f"mnistgen benchmarks ({'quick' if document['meta']['quick'] else 'full'}, "
             f"repeats {document['meta']['repeats']}, load {document['meta']['loadavg_1m']:.2f})"]
    for name, render in (("cold_start", _cold), ("throughput", _throughput), ("footprint", _footprint),
                         ("memory", _memory), ("dataset", _dataset),
                         ("dataset_memory", _dataset_memory), ("training", _training),
                         ("quantization", _quantization), ("serve", _serve), ("handwriting", _handwriting)):
        if name in document:
            lines += ["", *render(document[name])]
    return "\n".join(lines)


def _cold(c: dict) -> list[str]:
    lines = [f"cold start, {c['count']} PNGs    median wall s   median peak RSS MiB"]
    for side in ("runtime", "torch"):
        s = c[side]
        error = f"   ({s['error']})" if s.get("error") else ""
        lines.append(f"  {side:<27}{fmt(s.get('median_wall_s')):>14}{fmt(s.get('median_peak_rss_mib'), 1):>22}{error}")
    lines.append(f"  {'torch / runtime':<27}{fmt(c['wall_ratio_torch_over_runtime'], 2):>14}"
                 f"{fmt(c['rss_ratio_torch_over_runtime'], 2):>22}")
    return lines


def _throughput(t: dict) -> list[str]:
    lines = ["throughput, images/s     batch threads  onnxruntime      torch  ort/torch"]
    for r in t["rows"]:
        lines.append(f"  {'':<22}{r['batch']:>7}{r['threads']:>8}{fmt(r['onnxruntime_images_per_s'], 0):>13}"
                     f"{fmt(r['torch_images_per_s'], 0):>11}{fmt(r['ratio_onnxruntime_over_torch'], 2):>11}")
    errors = {r[key] for r in t["rows"] for key in ("onnxruntime_error", "torch_error") if r[key]}
    return lines + [f"  error: {e}" for e in sorted(errors)]


def _footprint(f: dict) -> list[str]:
    lines = ["footprint on disk, MiB"]
    for side in ("runtime", "torch"):
        s = f[side]
        top = ", ".join(f"{d['name']} {d['mib']:.1f}" for d in s["top"])
        lines.append(f"  {side:<8}{fmt(s['total_mib'], 1):>9}  ({s['distributions']} distributions; top: {top})")
    lines.append(f"  torch / runtime {fmt(f['ratio_torch_over_runtime'], 1)}x")
    wheel = f["wheel"]
    lines.append(f"  wheel {fmt(wheel['mib'], 2)}" + (f"  ({wheel['error']})" if wheel["error"] else ""))
    lines.append("  models " + ", ".join(f"{name} {fmt(size, 2)}" for name, size in f["models_mib"].items()))
    return lines


def _memory(m: dict) -> list[str]:
    lines = ["memory, --format npy     count  peak RSS MiB  array MiB  RSS - array MiB"]
    for r in m["rows"]:
        error = f"   ({r['error']})" if r["error"] else ""
        lines.append(f"  {'':<22}{r['count']:>7}{fmt(r['peak_rss_mib'], 1):>14}{fmt(r['array_mib'], 1):>11}"
                     f"{fmt(r['overhead_mib'], 1):>17}{error}")
    lines.append(f"  overhead growth small -> large: {fmt(m['overhead_growth_mib'], 1)} MiB")
    return lines


def _dataset(d: dict) -> list[str]:
    lines = [f"dataset, {d['count']} images            images/s",
             f"  {'write_dataset (idx, gzip)':<27}{fmt(d['write_images_per_s'], 0):>9}",
             f"  {'Generator.generate, same':<27}{fmt(d['generate_images_per_s'], 0):>9}",
             f"  {'write / generate':<27}{fmt(d['ratio_write_over_generate'], 2):>9}"]
    lines += [f"  error: {d['error']}"] if d["error"] else []
    return lines + _cli_rows(d["cli"])


def _dataset_memory(r: dict) -> list[str]:
    return ["dataset memory, one large run (peak RSS; writing is chunked, so it should match the dataset row)",
            *_cli_rows(r)]


def _cli_rows(r: dict) -> list[str]:
    error = f"   ({r['error']})" if r["error"] else ""
    return ["  mnistgen-dataset, whole process   images   wall s  images/s  peak RSS MiB",
            f"  {'':<32}{r['count']:>8}{fmt(r['wall_s'], 1):>9}{fmt(r['images_per_s'], 0):>10}"
            f"{fmt(r['peak_rss_mib'], 1):>14}{error}"]


def _training(t: dict) -> list[str]:
    if not t.get("measured"):
        return [f"training: {t['note']}"]
    return [
        f"training ({t['run_dir']}): {t['epochs']} epochs, median {fmt(t['median_seconds_per_epoch'], 1)} s/epoch, "
        f"total {fmt(t['total_seconds'], 0)} s, median {fmt(t['median_images_per_s'], 0)} images/s",
        f"  time to quality: {fmt(t['time_to_quality_s'], 0)} s ({t['quality_note']})",
    ]


def _quantization(q: dict) -> list[str]:
    if q.get("error"):
        return [f"quantization: {q['error']}"]
    lines = [f"quantization, batch {q['batch']}, 1 thread   MiB  images/s  max |diff| u8  label acc %  ship"]
    for name, v in q["variants"].items():
        ship = "-" if v["ship"] is None else ("yes" if v["ship"] else "no")
        lines.append(f"  {name:<27}{fmt(v['size_mib'], 2):>8}{fmt(v['images_per_s'], 0):>10}"
                     f"{fmt(v['max_abs_pixel_diff'], 0):>15}{fmt(v['label_accuracy_pct'], 1):>13}{ship:>6}"
                     + (f"   ({v['error']})" if v["error"] else ""))
    return lines


def _serve(v: dict) -> list[str]:
    if v.get("error"):
        return [f"serve: {v['error']}"]
    lines = [f"serve, wrk on 127.0.0.1 (mnistgen serve {' '.join(v['server_options'])})",
             "  payload          conc    req/s  p50 ms  p99 ms  failed  ceiling req/s  /ceiling  images/s"
             f"  in-process ({v['in_process']['threads']} threads)  /in-process"]
    for r in v["throughput"]:
        s = r["server"]
        lines.append(f"  {r['payload']:<15}{r['concurrency']:>5}{fmt(s['requests_per_s'], 0):>9}{fmt(s['p50_ms'], 1):>8}"
                     f"{fmt(s['p99_ms'], 1):>8}{s['failed']:>8}{fmt(r['ceiling']['requests_per_s'], 0):>15}"
                     f"{fmt(r['server_over_ceiling'], 2):>10}{fmt(r['images_per_s'], 0):>10}"
                     f"{fmt(r['in_process_images_per_s'], 0):>12}{fmt(r['server_over_in_process'], 2):>23}")
    m = v["memory"]
    lines.append(f"  memory: {m['requests']} requests in {fmt(m['seconds'], 0)} s ({m['failed']} failed), RSS MiB "
                 f"first segment {fmt(m['rss_first_segment_mib'], 1)}, half-way {fmt(m['rss_half_mib'], 1)}, "
                 f"end {fmt(m['rss_end_mib'], 1)}, max {fmt(m['rss_max_mib'], 1)}; "
                 f"second half {m['growth_second_half_mib']:+.1f}")
    lines.append("    RSS MiB after N requests: " + ", ".join(f"{n}: {rss:.1f}" for n, rss in m["samples"]))
    for number, f in enumerate(v["faults"], start=1):
        lines += [
            f"  faults, round {number}, over {fmt(f['seconds'], 1)} s under load ({f['load']['requests']} good requests, "
            f"{f['good_requests_failed']} failed: {f['load']['errors']}):",
            f"    {f['malformed_sent']} malformed -> {f['malformed_by_status']} ({f['malformed_not_4xx']} not 4xx); "
            f"{f['disconnects']} resets mid-response; {f['slow_clients_served_correctly']}/{f['slow_clients']} "
            "byte-at-a-time clients served correctly",
            f"    afterwards: /healthz {f['healthz_after']}, a good request {'ok' if f['good_request_after_ok'] else 'FAILED'}; "
            f"RSS {fmt(f['rss_before_mib'], 1)} -> {fmt(f['rss_after_mib'], 1)} MiB",
        ]
    lines += [
        f"  SIGTERM exit code {v['shutdown_exit_code']}; tracebacks in the server log: {v['server_tracebacks']}",
    ]
    return lines


def _paired(figures: dict, name: str, digits: int) -> str:
    """A paired difference, or "no measurable difference" where its 95% interval holds 0."""
    return difference(figures["added_paired_ms"].get(name), figures.get("added_paired_ci95_ms", {}).get(name), digits)


def _handwriting(h: dict) -> list[str]:
    lines = [f"--like, in process (warm, median of {h['repeats']})   ms"]
    lines += [f"  {name:<48}{fmt(ms, 2):>9}" for name, ms in h["steps_ms"].items()]
    lines += [f"  first use: {name:<37}{fmt(ms, 1):>9}" for name, ms in h["first_use_ms"].items()]
    lines.append("--like, whole command (mnistgen 2026)              median wall s   added ms   paired ms")
    for name, c in h["whole_command"].items():
        error = f"   ({c['error']})" if c.get("error") else ""
        added = "" if name == "plain" else fmt(h["added_ms"][name], 1)
        paired = "" if name == "plain" else "   " + _paired(h, name, 1)
        lines.append(f"  {name:<48}{fmt(c['median_s']):>12}{added:>11}{paired}{error}")
    for hands, v in h.get("server", {}).items():
        lines.append(f"mnistgen serve, POST a picture, {hands}: median ms   first call ms   paired added ms")
        lines.append(f"  {'plain GET':<48}{fmt(v['plain_median_ms'], 2):>9}{fmt(v['first_call_ms']['plain GET'], 1):>16}")
        lines += [f"  {name:<48}{fmt(ms, 2):>9}{fmt(v['first_call_ms'][name], 1):>16}   {_paired(v, name, 2)}"
                  for name, ms in v["median_ms"].items()]
        for name, row in (v.get("under_load") or {}).items():
            lines.append(f"  wrk, {name:<43}{fmt(row['requests_per_s'], 0):>9} req/s  p50 {fmt(row['p50_ms'], 2)} ms"
                         f"  p99 {fmt(row['p99_ms'], 2)} ms  failed {row['failed']}")
    return lines
