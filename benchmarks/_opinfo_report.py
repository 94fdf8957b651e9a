"""The OpInfo sweep's summary: the figures of docs/opinfo.md, the printed table and the progress lines."""

from __future__ import annotations

import collections


def summarize(results: list[dict]) -> dict:
    """The figures of the summary table; ratios are over the ops whose baseline passed."""
    counts = collections.Counter(entry["status"] for entry in results)
    considered = len(results) - counts["skipped"]
    baseline = sum(counts[s] for s in ("passed", "passed_with_fallback", "error", "mismatch"))
    fallback_counter = collections.Counter(
        name for entry in results if entry["status"] in ("passed_with_fallback", "error", "mismatch")
        for name in entry["fallback_ops"])
    whole_graph_counter = collections.Counter(
        sample["whole_graph_reason"].split(" (at ")[0] for entry in results if entry["status"] != "skipped"
        for sample in entry["samples"] if "whole_graph_reason" in sample)
    error_counter = collections.Counter(
        next(s["error"] for s in entry["samples"] if "error" in s).split(":")[0]
        for entry in results if entry["status"] == "error")

    def passed_by(rule: str) -> list[str]:
        return sorted(entry["op"] for entry in results if entry["status"] in ("passed", "passed_with_fallback")
                      and any(rule in sample for sample in entry["samples"]))

    def percent(count: int) -> float:
        return round(100.0 * count / baseline, 1) if baseline else 0.0

    return {"ops_considered": considered, "baseline_passed": baseline,
            "baseline_failed": counts["baseline_failed"], "not_captured": counts["not_captured"],
            "skipped": counts["skipped"],
            "minicomp_passed": counts["passed"] + counts["passed_with_fallback"],
            "minicomp_passed_percent": percent(counts["passed"] + counts["passed_with_fallback"]),
            "passed_without_fallback": counts["passed"], "passed_without_fallback_percent": percent(counts["passed"]),
            "passed_with_fallback": counts["passed_with_fallback"], "errors": counts["error"],
            "mismatches": counts["mismatch"], "passed_by_float64_rule": passed_by("float64_rule"),
            "passed_with_other_tie_order": passed_by("tie_order"),
            "top_fallback_ops": fallback_counter.most_common(25),
            "error_types": error_counter.most_common(), "whole_graph_reasons": whole_graph_counter.most_common(15)}


def format_summary(summary: dict, results: list[dict]) -> str:
    """The printed table, then every mismatch with its sample and max abs diff."""
    rows = [("ops considered", summary["ops_considered"], ""),
            ("baseline (aot_eager) passed", summary["baseline_passed"], ""),
            ("baseline failed / not captured / skipped",
             f"{summary['baseline_failed']} / {summary['not_captured']} / {summary['skipped']}", ""),
            ("minicomp passed", summary["minicomp_passed"], f"{summary['minicomp_passed_percent']}%"),
            ("  without fallback", summary["passed_without_fallback"], f"{summary['passed_without_fallback_percent']}%"),
            ("  with fallback", summary["passed_with_fallback"], ""),
            ("errors", summary["errors"], ""), ("MISMATCHES", summary["mismatches"], ""),
            ("passed by the float64 rule", len(summary["passed_by_float64_rule"]),
             ", ".join(summary["passed_by_float64_rule"])),
            ("passed with another order of ties", len(summary["passed_with_other_tie_order"]),
             ", ".join(summary["passed_with_other_tie_order"]))]
    lines = [f"{label:<42}{value!s:>12}  {extra}" for label, value, extra in rows]
    lines.append("most common fallback ops (ops affected): "
                 + ", ".join(f"{name} ({count})" for name, count in summary["top_fallback_ops"][:15]))
    lines.append("whole-graph fallback reasons (samples): "
                 + "; ".join(f"{reason} ({count})" for reason, count in summary["whole_graph_reasons"][:8]))
    lines.append("error types: " + ", ".join(f"{name} ({count})" for name, count in summary["error_types"]))
    for entry in results:
        if entry["status"] == "mismatch":
            for sample in entry["samples"]:
                if "mismatch" in sample:
                    lines.append(f"MISMATCH {entry['op']} {sample['sample']} max_abs_diff={sample['max_abs_diff']:.3g}"
                                 f" atol={entry['atol']:.2g} rtol={entry['rtol']:.2g}: {sample['mismatch'][:200]}")
    return "\n".join(lines)


def print_progress(entry: dict) -> None:
    keys = ("mismatch", "error", "baseline_problem", "unusable", "float64_rule", "tie_order")
    detail = next((s[k] for s in entry["samples"] for k in keys if k in s), ", ".join(entry["fallback_ops"]))
    print(f"{entry['op']:<48} {entry['status']:<22} {detail[:160]}", flush=True)
