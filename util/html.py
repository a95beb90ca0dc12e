"""Static HTML pages that show result images side by side, with metrics, split into pages."""
import html
import math
import os
from typing import Dict, List, Optional
from urllib.parse import quote

from util.output_files import write_text

STYLE = """
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
td, th { padding: 4px; border: 1px solid #ddd; text-align: center; vertical-align: middle; }
td.name { font-family: monospace; font-size: small; }
table.summary td { font-family: monospace; }
nav { margin: 0.5em 0; }
nav a, nav b { margin-right: 0.5em; }
img { max-width: 256px; image-rendering: pixelated; }
"""


def page_file(index: int, first: str = "index.html") -> str:
    """File name of page `index` (1-based): `first` for page 1, page_<index>.html after that."""
    return first if index == 1 else f"page_{index}.html"


def _format_value(value) -> str:
    if isinstance(value, int) or value is None:
        return str(value)
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def _summary_table(summary: Dict[str, float]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_format_value(v))}</td></tr>" for k, v in summary.items())
    return f"<table class='summary'>{cells}</table>"


def _nav(pages: int, current: int, first: str) -> str:
    if pages == 1:
        return ""
    links = [f"<b>{i}</b>" if i == current else f"<a href='{page_file(i, first)}'>{i}</a>" for i in range(1, pages + 1)]
    return "<nav>pages: " + " ".join(links) + "</nav>"


def _row_html(row: Dict, columns: List[str]) -> str:
    caption = html.escape(row["name"])
    if row.get("metrics"):
        caption += "<br>" + "<br>".join(f"{html.escape(k)} {html.escape(_format_value(v))}" for k, v in row["metrics"].items())
    cells = [f"<td class='name'>{caption}</td>"]
    for column in columns:
        if column in row:
            src = quote(row[column].replace(os.sep, "/"))
            cells.append(f"<td><a href='{src}'><img src='{src}' alt='{html.escape(column)}'></a></td>")
        else:
            cells.append("<td></td>")
    return "<tr>" + "".join(cells) + "</tr>"


def write_results_page(path: str, title: str, rows: List[Dict], columns: List[str],
                       summary: Optional[Dict[str, float]] = None, page_size: int = 50) -> List[str]:
    """Write HTML tables: one row per image, one column per label in `columns`, `page_size` rows a page.

    Each row maps a column label to an image path relative to the page's folder ('name' maps to the
    row's caption, an optional 'metrics' dict to scores shown under it). `summary` (metric -> value)
    is shown on top of every page. Page 1 is `path`, the others page_2.html, ... beside it, linked
    from each page. Images are shown at up to 256 px wide and link to the full-size file.
    Returns the paths of the pages written.
    """
    directory, first = os.path.split(path)
    os.makedirs(directory or ".", exist_ok=True)
    page_size = max(page_size, 1)
    pages = max(math.ceil(len(rows) / page_size), 1)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["name"] + columns)
    written = []
    for number in range(1, pages + 1):
        chunk = rows[(number - 1) * page_size:number * page_size]
        nav = _nav(pages, number, first)
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(rows)} images{f", page {number} of {pages}" if pages > 1 else ""}</p>
{_summary_table(summary) if summary else ""}
{nav}
<table><tr>{head}</tr>
{chr(10).join(_row_html(row, columns) for row in chunk)}
</table>
{nav}</body></html>
"""
        written.append(os.path.join(directory, page_file(number, first)))
        write_text(written[-1], page)
    return written
