"""Table and figure of the FDR / GO-LSD ablation results.

Example::

    python tools/analysis_tools/ablation_report.py docs/ablation_results.json

With ``--summary RESULTS [RESULTS ...]`` it prints the results table of
docs/ablation.md (AP per seed, mean AP per decoder layer) of several files,
e.g. the study and its diagnosis runs.

Reads the JSON that ``fdr_ablation.py`` writes and writes, next to each
other in ``--out-dir``, ``ablation_table.md`` (mean +- sample standard
deviation over seeds per detector and arm: AP, AP50, AP75, the AP of every
decoder layer, wall time, failed runs) and ``ablation.png`` (AP per arm with
error bars, and AP per decoder layer, one column per detector).
"""

import argparse
import json
import os
import os.path as osp
import statistics
from typing import Dict, List, Sequence, Tuple

DETECTOR_NAMES = dict(dino='DINO', deformable_detr='Deformable-DETR',
                      dfine='D-FINE-N')  # fmt: skip
ARM_NAMES = dict(plain='plain', fdr='+ FDR', fdr_fgl='+ FDR + FGL',
                 golsd='+ FDR + GO-LSD',
                 golsd_no_ddf='GO-LSD without DDF',
                 golsd_no_union='GO-LSD without union',
                 deim='DEIM (projects/DEIM)')  # fmt: skip
#: what the summary adds to an arm's name, per detector
SUMMARY_NOTES = {('dfine', 'plain'): ' (RT-DETR-style)',
                 ('dfine', 'golsd'): ' (shipped)',
                 ('dfine', 'golsd_no_ddf'): ' (diagnosis)',
                 ('dfine', 'golsd_no_union'): ' (diagnosis)'}  # fmt: skip


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def group_runs(runs: List[dict]) -> Dict[Tuple[str, str], List[dict]]:
    """Runs by (detector, arm), in the order they first appear."""
    groups: Dict[Tuple[str, str], List[dict]] = {}
    for run in runs:
        groups.setdefault((run['detector'], run['arm']), []).append(run)
    return groups


def _fmt(values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    return f'{mean:.3f} ± {std:.3f}'


def table(runs: List[dict]) -> str:
    """The markdown table, one row per (detector, arm)."""
    lines = [
        '| detector | arm | seeds | AP | AP50 | AP75 | AP per decoder '
        'layer (first to last) | wall time (min) | failed |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for (detector, arm), group in group_runs(runs).items():
        done = [r for r in group if 'error' not in r]
        failed = len(group) - len(done)
        cells = ['-'] * 5
        if done:
            layers = zip(*(r['layer_mAP'] for r in done))
            cells = [
                _fmt(r['bbox_mAP'] for r in done),
                _fmt(r['bbox_mAP_50'] for r in done),
                _fmt(r['bbox_mAP_75'] for r in done),
                ' / '.join(_fmt(layer) for layer in layers),
                f'{statistics.fmean(r["wall_s"] for r in done) / 60:.1f}',
            ]
        seeds = ', '.join(str(r['seed']) for r in done)
        lines.append(
            f'| {DETECTOR_NAMES.get(detector, detector)} | '
            f'{ARM_NAMES.get(arm, arm)} | {seeds} | '
            + ' | '.join(cells)
            + f' | {failed} |'
        )
    return '\n'.join(lines) + '\n'


def summary(runs: List[dict]) -> str:
    """The results table of docs/ablation.md: per (detector, arm) the
    mean +- std AP / AP50 / AP75, the mean AP of each decoder layer and the
    AP of each seed (failed runs left out)."""
    lines = [
        '| detector | arm | seeds | AP | AP50 | AP75 | AP of decoder layers '
        '1 / 2 / 3 (mean) | AP per seed |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for (detector, arm), group in group_runs(runs).items():
        done = [r for r in group if 'error' not in r]
        if not done:
            continue
        layers = zip(*(r['layer_mAP'] for r in done))
        lines.append(' | '.join([
            f'| {DETECTOR_NAMES.get(detector, detector)}',
            ARM_NAMES.get(arm, arm) + SUMMARY_NOTES.get((detector, arm), ''),
            ', '.join(str(r['seed']) for r in done),
            _fmt(r['bbox_mAP'] for r in done),
            _fmt(r['bbox_mAP_50'] for r in done),
            _fmt(r['bbox_mAP_75'] for r in done),
            ' / '.join(f'{statistics.fmean(v):.3f}' for v in layers),
            ' / '.join(f'{r["bbox_mAP"]:.3f}' for r in done),
        ]) + ' |')  # fmt: skip
    return '\n'.join(lines) + '\n'


def figure(runs: List[dict], path: str, title: str) -> None:
    """AP per arm (mean, error bar = std) over AP per decoder layer."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = group_runs([r for r in runs if 'error' not in r])
    detectors = list(dict.fromkeys(d for d, _ in groups))
    if not detectors:
        raise ValueError('no successful runs to draw')
    fig, axes = plt.subplots(
        2, len(detectors), figsize=(4.2 * len(detectors), 7), squeeze=False
    )
    for col, detector in enumerate(detectors):
        arms = [a for d, a in groups if d == detector]
        stats = [mean_std(r['bbox_mAP'] for r in groups[detector, a])
                 for a in arms]  # fmt: skip
        top, bottom = axes[0][col], axes[1][col]
        top.bar(range(len(arms)), [m for m, _ in stats],
                yerr=[s for _, s in stats], capsize=4,
                color=['#888888', '#5b9bd5', '#70ad47', '#c0504d'][
                    : len(arms)])  # fmt: skip
        top.set_xticks(range(len(arms)))
        top.set_xticklabels([ARM_NAMES.get(a, a) for a in arms],
                            rotation=20, fontsize=8)  # fmt: skip
        top.set_title(DETECTOR_NAMES.get(detector, detector))
        top.set_ylabel('bbox mAP (val)')
        for arm in arms:
            group = groups[detector, arm]
            layers = list(zip(*(r['layer_mAP'] for r in group)))
            means = [mean_std(v)[0] for v in layers]
            stds = [mean_std(v)[1] for v in layers]
            bottom.errorbar(range(1, len(layers) + 1), means, yerr=stds,
                            marker='o', capsize=3,
                            label=ARM_NAMES.get(arm, arm))  # fmt: skip
        bottom.set_xlabel('decoder layer')
        bottom.set_ylabel('bbox mAP of its boxes')
        bottom.set_xticks(range(1, len(layers) + 1))
        bottom.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: str, out_dir: str) -> Tuple[str, str]:
    """Write ``ablation_table.md`` and ``ablation.png`` of the results
    file's main protocol into ``out_dir``; return their paths."""
    with open(results) as file:
        data = json.load(file)
    protocol, runs = data['protocol'], data['runs']
    os.makedirs(out_dir, exist_ok=True)
    table_path = osp.join(out_dir, 'ablation_table.md')
    text = f'Protocol `{protocol["name"]}` ({osp.basename(results)}); '
    text += 'mean ± standard deviation over seeds.\n\n' + table(runs)
    for other in data.get('others', []):
        text += f'\nProtocol `{other["protocol"]["name"]}`:\n\n'
        text += table(other['runs'])
    with open(table_path, 'w') as file:
        file.write(text)
    png = osp.join(out_dir, 'ablation.png')
    if any('error' not in r for r in runs):
        figure(runs, png, f'FDR / GO-LSD ablation, protocol '
               f'{protocol["name"]}: mean ± std over seeds')  # fmt: skip
    return table_path, png


def committed_runs(path: str, name: str) -> List[dict]:
    """The runs of protocol ``name`` already in the results file (the
    committed study), so that a fresh checkout resumes without the work
    directory of earlier sessions."""
    if not osp.isfile(path):
        return []
    with open(path) as file:
        data = json.load(file)
    entries = [dict(protocol=data['protocol'], runs=data['runs'])]
    entries += data.get('others', [])
    for entry in entries:
        if entry['protocol']['name'] == name:
            return entry['runs']
    return []


def save_results(path: str, protocol: dict, runs: List[dict]) -> None:
    """Write (or update) the results file.

    The first protocol written is the file's ``protocol`` / ``runs``; runs
    of another protocol (e.g. a larger GPU budget) go to ``others`` as
    ``{"protocol", "runs"}`` entries, replacing one of the same name.
    """
    data: Dict[str, object] = {}
    if osp.isfile(path):
        with open(path) as file:
            data = json.load(file)
    if not data or data['protocol']['name'] == protocol['name']:
        data.update(protocol=protocol, runs=runs)
    else:
        others = [
            entry for entry in data.get('others', [])
            if entry['protocol']['name'] != protocol['name']
        ]  # fmt: skip
        data['others'] = others + [dict(protocol=protocol, runs=runs)]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as file:
        json.dump(data, file, indent=1)
        file.write('\n')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', nargs='?',
                        default='docs/ablation_results.json')  # fmt: skip
    parser.add_argument('--out-dir', default='docs')
    parser.add_argument(
        '--summary', nargs='+', metavar='RESULTS',
        help="print docs/ablation.md's results table of these results "
        'files (their main protocol, runs in file order) instead',
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.summary:
        runs = []
        for path in args.summary:
            with open(path) as file:
                runs += json.load(file)['runs']
        print(summary(runs), end='')
        return 0
    for path in write_report(args.results, args.out_dir):
        print(path)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
