"""Markdown tables of a validation run (benchmarks/validate_default_model.sh), as quoted in docs/validation.md.

    python benchmarks/summarise_validation.py OUTDIR

Reads whichever of OUTDIR/pp, OUTDIR/efficiency (bilby_dingo_pp outputs) and
OUTDIR/vs_dynesty*/model_vs_dynesty.json (one per run of model_vs_dynesty.py) exist, and prints their figures: sample efficiency and n_eff
(median, 10th percentile, worst; by SNR and by PSD), P-P p-values, and the comparison with dynesty.
"""

import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd

SNR_BINS = [(0, 8, "SNR < 8"), (8, 12, "8 ≤ SNR < 12"), (12, np.inf, "SNR ≥ 12")]


def percent(value):
    return f"{100 * value:.3g}%"


def efficiency_tables(directory):
    table = pd.read_csv(os.path.join(directory, "pp_injections.csv"))
    with open(os.path.join(directory, "pp_summary.json")) as stream:
        summary = json.load(stream)
    draws = (f"until n_eff = {summary['target_n_eff']} (at most {summary['max_samples']} draws)"
             if summary.get("target_n_eff") else f"{summary['num_samples']} draws")
    lines = [f"### {directory}: {len(table)} injections, {draws} each", "",
             "| | ε | n_eff |", "|---|---|---|"]
    for name, function in [("median", np.median), ("10th percentile", lambda x: np.percentile(x, 10)),
                           ("worst", np.min)]:
        lines.append(f"| {name} | {percent(function(table['sample_efficiency']))} | {function(table['n_eff']):.0f} |")
    lines += ["", "| group | injections | median ε | median n_eff |", "|---|---|---|---|"]
    groups = [(label, table[(table["network_optimal_snr"] >= low) & (table["network_optimal_snr"] < high)])
              for low, high, label in SNR_BINS]
    groups += [(psd, rows) for psd, rows in table.groupby("psd")]
    for label, rows in groups:
        if len(rows):
            lines.append(f"| {label} | {len(rows)} | {percent(rows['sample_efficiency'].median())} | "
                         f"{rows['n_eff'].median():.0f} |")
    lines += ["", f"ε ≥ 0.5% (n_eff 1,000 within 2×10⁵ draws at that rate): "
              f"{np.sum(table['sample_efficiency'] >= 0.005)} of {len(table)}; ε ≥ 10%: "
              f"{np.sum(table['sample_efficiency'] >= 0.1)}. Network SNR {table['network_optimal_snr'].min():.1f}–"
              f"{table['network_optimal_snr'].max():.1f} (median {table['network_optimal_snr'].median():.1f}). "
              f"Wall time per injection: median {table['wall_time_s'].median():.0f} s, total "
              f"{table['wall_time_s'].sum():.0f} s; likelihood calls median {table['likelihood_calls'].median():.0f}.",
              "", "| P-P p-value | " + " | ".join(summary["network_pvalues"]) + " | combined |",
              "|---" * (len(summary["network_pvalues"]) + 2) + "|"]
    for label, kind in [("network alone", "network"), ("importance-sampled", "importance_sampled")]:
        values = summary[f"{kind}_pvalues"].values()
        lines.append(f"| {label} | " + " | ".join(f"{value:.3f}" for value in values)
                     + f" | **{summary[f'{kind}_combined_pvalue']:.3f}** |")
    return lines


def dynesty_table(path):
    with open(path) as stream:
        report = json.load(stream)
    lines = [f"### {path}: dynesty nlive {report['nlive']}, naccept {report.get('naccept', 60)}; dingo to n_eff "
             f"{report['target_n_eff']} (at most {report.get('max_samples', 'n/a')} draws); npool "
             f"{report.get('npool', 'n/a')}", "",
             "| injection | PSD | SNR | ε | n_eff | max JSD (parameter) | reference half-split JSD (same parameter) | "
             "ln Z dingo | ln Z dynesty | Δ / σ | calls dingo / dynesty | wall dingo / dynesty | speed-up |",
             "|---" * 13 + "|"]
    for row in report["injections"]:
        worst = max(row["jsd_nats"], key=row["jsd_nats"].get)
        floor = row.get("reference_half_split_jsd_nats", {}).get(worst, float("nan"))
        lines.append(
            f"| {row['injection']} | {row['psd']} | {row['network_optimal_snr']:.1f} | {percent(row['sample_efficiency'])} | "
            f"{row['n_eff']:.0f} | {row['jsd_nats'][worst]:.4f} ({worst}) | {floor:.4f} | "
            f"{row['log_evidence_dingo']:.3f} ± {row['log_evidence_err_dingo']:.3f} | "
            f"{row['log_evidence_other']:.3f} ± {row['log_evidence_err_other']:.3f} | "
            f"{row['log_evidence_difference'] / row['combined_error']:+.1f} | "
            f"{row['likelihood_calls_dingo']:,} / {row['likelihood_calls_other']:,} | "
            f"{row['wall_time_dingo_s']:.0f} s / {row['wall_time_other_s']:.0f} s | ×{row['speed_up']:.1f} |")
    lines += ["", "1-D JSDs (nats), per injection: "]
    for row in report["injections"]:
        lines.append(f"- {row['injection']}: " + ", ".join(f"{key} {value:.4f}" for key, value in row["jsd_nats"].items()))
    return lines


def overlay_corners(outdir):
    """dingo's and dynesty's posteriors of each compared injection on one corner plot (next to the results)."""
    import bilby

    written = []
    for directory in sorted(glob.glob(os.path.join(outdir, "vs_dynesty*", "injection_*"))):
        paths = [os.path.join(directory, f"{label}_result.hdf5") for label in ("dingo", "dynesty")]
        if not all(os.path.exists(path) for path in paths):
            continue
        results = [bilby.read_in_result(path) for path in paths]
        keys = [key for key in results[1].search_parameter_keys if key in results[0].posterior]
        filename = os.path.join(directory, "dingo_vs_dynesty_corner.png")
        bilby.core.result.plot_multiple(results, parameters=keys, labels=["dingo (importance-sampled)", "dynesty"],
                                        filename=filename, save=True)
        written.append(filename)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--corner", action="store_true",
                        help="also plot dingo's and dynesty's posteriors together for each compared injection")
    args = parser.parse_args(argv)
    if args.corner:
        for filename in overlay_corners(args.outdir):
            print(f"wrote {filename}", file=sys.stderr)
    lines = []
    for step in ["pp", "efficiency"]:
        if os.path.exists(os.path.join(args.outdir, step, "pp_summary.json")):
            lines += efficiency_tables(os.path.join(args.outdir, step)) + [""]
    for comparison in sorted(glob.glob(os.path.join(args.outdir, "vs_dynesty*", "model_vs_dynesty.json"))):
        lines += dynesty_table(comparison) + [""]
    if not lines:
        raise SystemExit(f"No validation outputs under {args.outdir}: run benchmarks/validate_default_model.sh first.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
