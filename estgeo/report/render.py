"""Turn a composed `Report` into one self-contained HTML file and a PDF of the same HTML.

The HTML has no external links: styles are inline, images are base64 PNG data URIs, and
every number shown is also in a JSON block (``<script type="application/json"
id="lagesbild-data">``), with ``data-ref`` / ``data-value`` on each table cell pointing
into it. The PDF is WeasyPrint's rendering of that very HTML, so the two never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, select_autoescape

from estgeo.report.content import Report

TEMPLATE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="estgeo">
<title>{{ report.title }} – {{ report.subtitle }}</title>
<style>
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
        @bottom-left { content: "{{ report.title }} · {{ report.subtitle }}"; font: 7pt "DejaVu Sans", sans-serif; color: #666; }
        @bottom-right { content: "{{ page }} " counter(page) " / " counter(pages); font: 7pt "DejaVu Sans", sans-serif; color: #666; } }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; line-height: 1.35;
       color: #1a1a1a; max-width: 190mm; margin: 0 auto; padding: 0 4mm; }
h1 { font-size: 20pt; margin: 0 0 2mm 0; }
h2 { font-size: 13pt; margin: 7mm 0 2mm 0; border-bottom: 1.5px solid #b30000; padding-bottom: 1mm;
     break-after: avoid; }
h3 { font-size: 10.5pt; margin: 4mm 0 1mm 0; break-after: avoid; }
.subtitle { font-size: 12pt; color: #333; margin-bottom: 3mm; }
.profile-internal { background: #fde0dd; border: 1px solid #b30000; padding: 2mm 3mm; font-weight: bold; }
.profile-public { background: #eef5ea; border: 1px solid #4d9221; padding: 2mm 3mm; }
.notes p { margin: 1mm 0; color: #333; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; font-size: 8.5pt; break-inside: auto; }
th, td { border-bottom: 0.5px solid #ccc; padding: 0.8mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: bold; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.sig { font-weight: bold; color: #b30000; }
tr { break-inside: avoid; }
figure { margin: 3mm 0; break-inside: avoid; }
figure img { display: block; max-width: 100%; max-height: 118mm; width: auto; height: auto; margin: 0 auto;
             border: 0.5px solid #ddd; }
td:first-child { white-space: nowrap; }
#table-lamps td:last-child { font-size: 7.5pt; width: 55%; }
figcaption { font-size: 8pt; color: #444; margin-top: 1mm; }
.note { font-size: 8pt; color: #555; }
.stats { display: flex; gap: 3mm; margin: 2mm 0; }
.stat { flex: 1; border: 1px solid #ccc; border-radius: 2mm; padding: 2mm; text-align: center; }
.stat .value { font-size: 16pt; font-weight: bold; display: block; }
.stat .label { font-size: 8pt; color: #444; }
ul.findings li { margin-bottom: 1.5mm; }
ul.findings li.significant { font-weight: bold; }
section.page-break { break-before: page; }
</style>
</head>
<body>
<header>
<h1>{{ report.title }}</h1>
<div class="subtitle">{{ report.subtitle }}</div>
<p class="profile-{{ profile }}">{{ report.notes[0] }}</p>
<div class="notes">{% for note in report.notes[1:] %}<p>{{ note }}</p>{% endfor %}</div>
</header>
{% for section in report.sections %}
<section id="{{ section.id }}"{% if section.id in ("maps", "places") %} class="page-break"{% endif %}>
<h2>{{ section.title }}</h2>
{% for block in section.blocks %}
{% if block.type == "p" %}<p>{{ block.text }}</p>
{% elif block.type == "figure" %}<figure id="{{ block.id }}">{% if block.title %}<h3>{{ block.title }}</h3>{% endif %}
<img src="{{ block.src }}" alt="{{ block.title or block.caption }}"><figcaption>{{ block.caption }}</figcaption></figure>
{% elif block.type == "table" %}{% if block.caption %}<h3>{{ block.caption }}</h3>{% endif %}
<table id="table-{{ block.id }}"><thead><tr>{% for h in block.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in block.rows %}{% set outer = loop %}<tr>{% for c in row %}<td class="{{ 'num' if c.numeric else '' }}{{ ' sig' if block.significant and block.significant[outer.index0][loop.index0] else '' }}"{% if c.ref %} data-ref="{{ c.ref }}" data-value="{{ c.value | tojson | forceescape }}"{% endif %}>{{ c.text }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>{% if block.note %}<p class="note">{{ block.note }}</p>{% endif %}
{% elif block.type == "stats" %}<div class="stats">{% for s in block["items"] %}<div class="stat"><span class="value" data-ref="{{ s.ref }}" data-value="{{ s.value | tojson | forceescape }}">{{ s.text }}</span><span class="label">{{ s.label }}</span></div>{% endfor %}</div>
{% elif block.type == "findings" %}<ul class="findings">{% for f in block["items"] %}<li class="{{ 'significant' if f.significant else '' }}">{{ f.text }}</li>{% endfor %}</ul>
{% endif %}
{% endfor %}
</section>
{% endfor %}
<script type="application/json" id="lagesbild-data">{{ data_json }}</script>
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_TEMPLATE = _ENV.from_string(TEMPLATE)


def report_json(report: Report) -> str:
    """The machine-readable record, safe inside a <script> element."""
    text = json.dumps(report.data, ensure_ascii=False, sort_keys=False, allow_nan=False, default=str)
    return text.replace("</", "<\\/")


def render_html(report: Report) -> str:
    from markupsafe import Markup

    from estgeo.report.texts import STRINGS

    return _TEMPLATE.render(report=report, lang=report.options.lang, profile=report.options.profile,
                            page=STRINGS[report.options.lang]["page"], data_json=Markup(report_json(report)))


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


def write_report(report: Report, out_dir: Path, pdf: bool = True) -> dict[str, Path]:
    """Write `<stem>.html` (and `<stem>.pdf`) into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(report)
    paths = {"html": out_dir / f"{report.file_stem}.html"}
    paths["html"].write_text(html, encoding="utf-8")
    if pdf:
        paths["pdf"] = out_dir / f"{report.file_stem}.pdf"
        paths["pdf"].write_bytes(render_pdf(html))
    return paths
