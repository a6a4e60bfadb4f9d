"""CSV and SVG renderings of cohort_statistics() output (text in, text out)."""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

COLUMNS = ["section", "finding", "group", "comparison", "count", "n", "proportion", "ci95_low", "ci95_high",
           "a", "b", "c", "d", "p_value", "yates_p_value", "published", "reproduces", "note"]


def _num(x) -> str:
    return "" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))


def statistics_csv(stats: dict) -> str:
    """One row per prevalence, comparison and association; tables as a, b, c, d
    (rows: group or spinal calcinosis yes/no; columns: finding yes/no)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for p in stats["prevalence"]:
        w.writerow(["prevalence", p["finding"], p["group"], "", p["count"], p["n"], _num(p["proportion"]),
                    _num(p["ci95_low"]), _num(p["ci95_high"]), "", "", "", "", "", "", p.get("published") or "",
                    "", ""])
    for section in ("comparisons", "associations"):
        for t in stats[section]:
            (a, b), (c, d) = t["table"]
            rep = t.get("reproduces")
            w.writerow([section[:-1], t["finding"], t.get("with", ""), t["comparison"], "", "", "", "", "",
                        a, b, c, d, _num(t["p_value"]), _num(t.get("yates_p_value")), t.get("published") or "",
                        "" if rep is None else str(rep).lower(), t.get("note", "")])
    return buf.getvalue()


COLORS = {"SSc": "#b2182b", "RA": "#2166ac", "SLE": "#4d9221"}


def statistics_svg(stats: dict, width: int = 720) -> str:
    """Horizontal bars: prevalence of each finding per group with its 95% interval."""
    rows = stats["prevalence"]
    left, top, bar, gap = 230, 40, 14, 10
    findings = list(dict.fromkeys(p["finding"] for p in rows))
    height = top + sum(sum(1 for p in rows if p["finding"] == f) * bar + gap for f in findings) + 40
    plot = width - left - 30
    svg = ET.Element("svg", xmlns="http://www.w3.org/2000/svg", width=str(width), height=str(height),
                     viewBox=f"0 0 {width} {height}", role="img")
    ET.SubElement(svg, "title").text = "Prevalence by group with 95% confidence interval"
    ET.SubElement(svg, "text", x="10", y="20", **{"font-family": "sans-serif", "font-size": "14"}).text = \
        "Prevalence by group (bars) with exact 95% CI (lines)"
    for i in range(0, 101, 25):
        x = left + plot * i / 100
        ET.SubElement(svg, "line", x1=f"{x:.1f}", x2=f"{x:.1f}", y1=str(top - 5), y2=str(height - 30),
                      stroke="#ddd")
        ET.SubElement(svg, "text", x=f"{x:.1f}", y=str(height - 15), **{"font-family": "sans-serif",
                      "font-size": "10", "text-anchor": "middle"}).text = f"{i}%"
    y = top
    for f in findings:
        group_rows = [p for p in rows if p["finding"] == f]
        ET.SubElement(svg, "text", x=str(left - 8), y=f"{y + bar * len(group_rows) / 2 + 4:.1f}",
                      **{"font-family": "sans-serif", "font-size": "11", "text-anchor": "end"}).text = \
            group_rows[0]["label"]
        for p in group_rows:
            w = plot * p["proportion"]
            ET.SubElement(svg, "rect", x=str(left), y=str(y + 1), width=f"{w:.1f}", height=str(bar - 2),
                          fill=COLORS.get(p["group"], "#777")).append(_title(
                              f"{p['group']}: {p['count']}/{p['n']} ({100 * p['proportion']:.1f}%), "
                              f"95% CI {100 * p['ci95_low']:.1f}-{100 * p['ci95_high']:.1f}%"))
            ET.SubElement(svg, "line", x1=f"{left + plot * p['ci95_low']:.1f}", x2=f"{left + plot * p['ci95_high']:.1f}",
                          y1=f"{y + bar / 2:.1f}", y2=f"{y + bar / 2:.1f}", stroke="#000")
            ET.SubElement(svg, "text", x=f"{left + w + 4:.1f}" if w < plot - 60 else f"{left + 4:.1f}",
                          y=f"{y + bar - 3:.1f}", **{"font-family": "sans-serif", "font-size": "9"}).text = \
                f"{p['group']} {p['count']}/{p['n']}"
            y += bar
        y += gap
    return ET.tostring(svg, encoding="unicode")


def _title(text: str) -> ET.Element:
    t = ET.Element("title")
    t.text = text
    return t
