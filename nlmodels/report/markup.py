"""Markup helpers every rendered report shares (model cards, difference reports): escaping,
Markdown tables, the self-contained HTML page's style."""

from __future__ import annotations

import html
import math

__all__ = ["CSS", "fmt", "h", "kv", "md", "md_table", "short", "table"]


def short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md(text) -> str:
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def md_table(header, rows) -> list[str]:
    out = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return out + [""]


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#1d2630;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:28px 0 8px;border-bottom:2px solid #e3e7ec;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}.meta{color:#5b6773;font-size:13px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}th,td{border:1px solid #d6dce3;padding:4px 8px;vertical-align:top}
th{background:#eef1f5;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.pos{color:#a93226;font-weight:600}td.neg{color:#215d91;font-weight:600}
.kv th{width:220px}.bar{display:inline-block;height:10px;background:#5d8aa8;vertical-align:middle}
.concept{margin:10px 0;padding:8px 12px;border-left:4px solid #d6dce3;background:#fafbfc}
.concept ul{margin:4px 0 0 18px;padding:0;font-size:13px}.score{font-variant-numeric:tabular-nums;color:#5b6773}
img{max-width:100%;border:1px solid #e3e7ec}pre{background:#f3f5f7;padding:10px;overflow-x:auto;font-size:12px}
.diag{background:#e8f3e8}.small{font-size:12px;color:#5b6773}
"""


def h(text) -> str:
    return html.escape(str(text))


def kv(rows) -> str:
    return "<table class='kv'>" + "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in rows) + "</table>"


def table(header, rows, numeric=()) -> str:
    head = "".join(f"<th>{h(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td class='num'>{h(v)}</td>" if j in numeric else f"<td>{h(v)}</td>"
                                    for j, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def fmt(v, digits=3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)
