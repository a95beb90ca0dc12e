"""A static HTML page that shows result images side by side."""
import html
import os
from typing import Dict, List
from urllib.parse import quote


def write_results_page(path: str, title: str, rows: List[Dict[str, str]], columns: List[str]) -> None:
    """Write an HTML table to `path`: one row per image, one column per label in `columns`.

    Each row maps a column label to an image path relative to the page's folder ('name' maps to the
    row's caption). Images are shown at up to 256 px wide and link to the full-size file.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["name"] + columns)
    body = []
    for row in rows:
        cells = [f"<td class='name'>{html.escape(row['name'])}</td>"]
        for column in columns:
            if column in row:
                src = quote(row[column].replace(os.sep, "/"))
                cells.append(f"<td><a href='{src}'><img src='{src}' alt='{html.escape(column)}'></a></td>")
            else:
                cells.append("<td></td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 4px; border: 1px solid #ddd; text-align: center; vertical-align: middle; }}
td.name {{ font-family: monospace; font-size: small; }}
img {{ max-width: 256px; image-rendering: pixelated; }}
</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(rows)} images</p>
<table><tr>{head}</tr>
{chr(10).join(body)}
</table></body></html>
"""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(page)
