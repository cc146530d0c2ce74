"""The HTML page of a report: layout and styles. ``$name`` placeholders are filled by the builder
(``string.Template``), always with HTML that was escaped there; the page loads nothing from the network."""

from string import Template

__all__ = ["PAGE"]

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bamu $version">
<title>$title</title>
<style>
:root {
  --before: $before_colour; --after: $after_colour;
  --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --panel: #ffffff; --bg: #f1f5f9;
  --good: #15803d; --bad: #b91c1c;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header.top { background: #0f172a; color: #f8fafc; padding: 22px 0 18px; }
.wrap { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header.top h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
header.top .sub { color: #cbd5e1; font-size: 14px; }
header.top .sub code { color: #e2e8f0; }
nav.toc { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; }
nav.toc a { color: #93c5fd; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { padding: 22px 0 40px; }
section.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px 20px; margin: 0 0 18px; }
section.card h2 { margin: 0 0 12px; font-size: 18px; font-weight: 650; }
section.card h3 { margin: 18px 0 8px; font-size: 15px; font-weight: 600; color: #334155; }
p.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
p.verdict { font-size: 16px; margin: 0 0 10px; }
ul.warnings { margin: 6px 0 0; padding: 8px 12px 8px 28px; background: #fef9c3; color: #854d0e; border-radius: 8px;
  font-size: 14px; }
abbr[title] { text-decoration: underline dotted; cursor: help; }
dl.glossary dt { font-weight: 600; margin-top: 6px; }
dl.glossary dd { margin: 0 0 0 12px; color: var(--muted); font-size: 14px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #f8fafc; }
.kpi .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.kpi .value { font-size: 22px; font-weight: 650; margin-top: 2px; }
.kpi .detail { font-size: 13px; color: var(--muted); }
.b { color: var(--before); font-weight: 600; }
.a { color: var(--after); font-weight: 600; }
.good { color: var(--good); }
.bad { color: var(--bad); }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: #e2e8f0; color: #334155; vertical-align: middle; }
.badge.complete, .badge.ok { background: #dcfce7; color: #166534; }
.badge.failed, .badge.diverged { background: #fee2e2; color: #991b1b; }
.badge.cancelled, .badge.stopped_early, .badge.running, .badge.no_change { background: #fef9c3; color: #854d0e; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 18px; align-items: start; }
@media (max-width: 860px) { .grid2 { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600;
  background: #f8fafc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.b, th.a { color: #fff; }
th.b { background: var(--before); }
th.a { background: var(--after); }
tbody tr:nth-child(even) td { background: #fbfdff; }
.ci { color: var(--muted); font-size: 12px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; font-size: 14px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.formula { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
  background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 10px 0 0; }
.gallery { display: grid; grid-template-columns: 1fr; gap: 14px; }
figure.img { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #f8fafc; }
figure.img img { width: 100%; height: auto; image-rendering: pixelated; display: block; border-radius: 4px; }
figure.img figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
figure.img.before { border-top: 4px solid var(--before); }
figure.img.after { border-top: 4px solid var(--after); }
.legend { font-size: 13px; color: var(--muted); margin: 0 0 8px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin: 0 4px -1px 10px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 30px; }
@media print { body { background: #fff; } section.card { break-inside: avoid; border-color: #cbd5e1; } header.top {
background: #fff; color: #000; } }
</style>
</head>
<body>
<header class="top"><div class="wrap">
<h1>$heading</h1>
<div class="sub">$subheading</div>
<nav class="toc">$toc</nav>
</div></header>
<main><div class="wrap">
$body
</div></main>
<footer>$footer</footer>
</body>
</html>
"""
)
