"""The text summary and the JSON form of :class:`Fp16Check`'s result
(``tools/analysis_tools/check_fp16.py``)."""

from typing import Any, Dict, Optional

import numpy as np


def _fmt(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.2e}'


def format_report(result: Dict[str, Any], top: int = 5) -> str:
    """The summary of :meth:`Fp16Check.run`'s result: modules beyond the
    fp16 range, per variant the modules with inf/NaN, the ``top`` modules
    by relative error and the detection differences."""
    modules = result['modules']
    batch_norms = result['batch_norms']
    lines = [
        f'fp16 check on {result["num_images"]} image(s), '
        f'{len(modules)} modules reported; BatchNorms folded into '
        f'convolutions: {batch_norms["folded"]} ({batch_norms["left"]} '
        'left, run in fp16)'
    ]
    beyond = [m for m in modules if m['beyond_fp16']]
    largest = sorted(modules, key=lambda m: -m['max_abs'])[:top]
    lines.append(
        'fp32 outputs beyond the fp16 range (|x| > 65504): '
        + (
            ', '.join(f'{m["name"]} ({m["max_abs"]:.3g})' for m in beyond)
            or 'none'
        )  # fmt: skip
    )
    lines.append(
        'largest fp32 |activations|: '
        + ', '.join(f'{m["name"]} {m["max_abs"]:.3g}' for m in largest)
    )
    for variant in result['variants']:
        label = variant['label']
        rows = [(m, m['variants'][label]) for m in modules]
        lines.append(
            f'[{label}] ({variant["kept_modules"]} modules kept in fp32)'
        )
        bad = [(m, v) for m, v in rows if v['nonfinite']]
        shown = ', '.join(
            f'{m["name"]} ({v["nonfinite"]})' for m, v in bad[:top]
        )
        more = f' and {len(bad) - top} more' if len(bad) > top else ''
        lines.append(
            f'  modules with inf/NaN outputs: {len(bad)}'
            + (f', first: {shown}{more}' if bad else '')
        )
        worst = sorted(rows, key=lambda r: -r[1]['rel_error'])[:top]
        lines.append(
            f'  top-{top} relative error: '
            + ', '.join(f'{m["name"]} {v["rel_error"]:.2e}' for m, v in worst)
        )
        det, conf = variant['detections'], variant['confident']
        lines.append(
            f'  top-{result["top_k"]} detections, max abs diff: scores '
            f'{det["score"]:.2e}, boxes {det["box"]:.2e} px, label '
            f'mismatches {det["label_mismatches"]}'
        )
        if conf['count']:
            verdict = 'yes' if conf['score'] <= result['score_tol'] else 'NO'
            lines.append(
                f'  {conf["count"]} detections with fp32 score >= '
                f'{conf["score_thr"]}: max abs diff scores '
                f'{_fmt(conf["score"])}, boxes {_fmt(conf["box"])} px, '
                f'label mismatches {conf["label_mismatches"]}; scores '
                f'within {result["score_tol"]:g}: {verdict}'
            )
        else:
            lines.append(
                f'  no detection with fp32 score >= {conf["score_thr"]}'
            )
    return '\n'.join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with inf / NaN floats as the strings 'inf', '-inf',
    'nan' (plain JSON has no such numbers)."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
