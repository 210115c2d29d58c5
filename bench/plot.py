#!/usr/bin/env python3
"""Draws the throughput rows of bench/results.md as horizontal bars, one group per measurement, into an SVG
(no plotting library needed). Usage: plot.py RESULTS.md OUT.svg"""
import html, re, sys

results, out = sys.argv[1], sys.argv[2]
groups = {}  # measurement -> [(system, fps)]
for line in open(results):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 4 or cells[3] != "fps":
        continue
    m = re.match(r"([\d,]+(?:\.\d+)?)", cells[2])
    if m:
        groups.setdefault(cells[0].replace(" (fps)", ""), []).append((cells[1], float(m.group(1).replace(",", ""))))

bar, gap, label_w, plot_w, title_h = 18, 6, 480, 340, 22
height = 40 + sum(title_h + len(rows) * (bar + gap) + 14 for rows in groups.values())
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 90}" height="{height}" '
       'font-family="sans-serif" font-size="12">',
       '<text x="8" y="22" font-size="15" font-weight="bold">bodycam vs peers: frames per second (longer is faster)</text>']
y = 40
for title, rows in groups.items():
    svg.append(f'<text x="8" y="{y + 14}" font-weight="bold">{html.escape(title)}</text>')
    y += title_h
    top = max(v for _, v in rows)
    for system, value in rows:
        w = max(1, value / top * plot_w)
        colour = "#2b6cb0" if system.startswith("bodycam") else "#a0aec0"
        svg.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(system if len(system) <= 72 else system[:71] + "…")}</text>')
        svg.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
        svg.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{value:,.0f}</text>')
        y += bar + gap
    y += 14
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
