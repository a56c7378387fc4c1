"""Render executed notebooks to HTML with an index page: ``python -m helpers report``.

Writes ``outputs/report/index.html`` linking every executed notebook and showing the headline
figures and results, so a reader can browse the results without Jupyter.
"""

from __future__ import annotations

import html
import json
import shutil
import sys

from helpers import config
from helpers.artifacts import atomic_write_bytes
from helpers.workbook.profiles import NOTEBOOKS

HEADLINE_FIGURES = (
    "01_explore-class-distribution",
    "01_explore-sharpness",
    "02_preprocess-augment-seed",
    "03_baseline-learning-curves",
    "04_compare-learning-curves",
    "04_compare-accuracy-vs-minutes",
    "04_compare-per-class-f1",
    "05_binary-roc-pr",
    "06_evaluate-confusion-normalised",
    "06_evaluate-pr-curves",
    "06_evaluate-reliability",
    "06_evaluate-gradcam",
)

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.85em;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.warn{border:3px solid crimson;color:crimson;
padding:8px;font-weight:bold}figure{display:inline-block;margin:8px;width:47%;vertical-align:top}
figure img{width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}"""


def render_notebooks() -> list[str]:
    """Executed notebooks -> HTML files beside the index; returns the notebook names rendered."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    done = []
    for name in NOTEBOOKS:
        src = config.EXECUTED_DIR / f"{name}.ipynb"
        if src.exists():
            body, _ = exporter.from_filename(str(src))
            atomic_write_bytes(config.REPORT_DIR / f"{name}.html", body.encode())
            done.append(name)
    return done


def _results_rows() -> list[tuple[str, dict]]:
    rows = []
    for nb in ("03_baseline", "04_compare"):
        path = config.METRICS_DIR / f"{nb}.json"
        if path.exists():
            body = json.loads(path.read_text())
            profile = (body.get("params") or {}).get("profile", "")
            for name, rec in body["metrics"].items():
                rows.append((name, {"profile": profile, **rec["summary"]}))
    return rows


def _dataset_label() -> tuple[str, bool]:
    path = config.METRICS_DIR / "03_baseline.json"
    if not path.exists():
        path = config.METRICS_DIR / "01_explore.json"
    if not path.exists():
        return "unknown", False
    ds = json.loads(path.read_text()).get("dataset", {})
    return ds.get("name", "unknown"), bool(ds.get("synthetic"))


def build_index(rendered: list[str]) -> str:
    """The index page's HTML."""
    name, synthetic = _dataset_label()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>FER workbook results</title>"
        f"<style>{STYLE}</style></head><body><h1>Facial emotion recognition workbook: results</h1>"
    ]
    if synthetic:
        parts.append(
            f"<p class='warn'>{html.escape(config.SYNTHETIC_LABEL.upper())}: these results come from the "
            f"embedded synthetic sample, not FER-2013.</p>"
        )
    parts.append(
        f"<p>Dataset: <b>{html.escape(name)}</b>. Validation = PublicTest (model selection), "
        f"test = PrivateTest (reported once), test_full = both (7,178 images on FER-2013).</p>"
    )
    rows = _results_rows()
    if rows:
        cols = [
            "profile",
            "params",
            "seconds_per_epoch",
            "val_accuracy",
            "test_accuracy",
            "test_macro_f1",
            "test_full_accuracy",
            "latency_compiled_ms",
        ]
        parts.append("<h2>Models</h2><table><tr><th>model</th>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for model, s in rows:
            cells = "".join(
                f"<td>{s[c]:.3f}</td>" if isinstance(s.get(c), float) else f"<td>{s.get(c, '')}</td>" for c in cols
            )
            parts.append(f"<tr><td>{html.escape(model)}</td>{cells}</tr>")
        parts.append("</table>")
    parts.append("<h2>Notebooks</h2><ul>")
    parts += [f"<li><a href='{n}.html'>{n}</a></li>" for n in rendered]
    parts.append("</ul><h2>Headline figures</h2>")
    fig_dir = config.REPORT_DIR / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for fig in HEADLINE_FIGURES:
        src = config.FIGURES_DIR / f"{fig}.png"
        if src.exists():
            shutil.copy2(src, fig_dir / src.name)
            parts.append(f"<figure><img src='figures/{src.name}' alt='{fig}'><figcaption>{fig}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Render every executed notebook and the index page (no options)."""
    config.ensure_dirs()
    rendered = render_notebooks()
    if not rendered:
        print(f"no executed notebooks in {config.EXECUTED_DIR}: run `make run-all` first", file=sys.stderr)
        return 1
    index = atomic_write_bytes(config.REPORT_DIR / "index.html", build_index(rendered).encode())
    print(f"report: {index} ({len(rendered)} notebooks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
