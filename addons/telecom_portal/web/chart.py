"""The usage chart: an inline SVG drawn on the server (no JavaScript).

Bars of minutes per day; each bar has a <title> (the browser's tooltip)
and the chart a text alternative, so a screen reader gets the figures."""
from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 600, 160, 24


def usage_svg(days):
    "``days``: [(date, calls, seconds)] oldest first"
    if not days:
        return Markup('')
    top = max(max(seconds for _, _, seconds in days), 60)
    bar = (WIDTH - 2 * PAD) / len(days)
    total_minutes = sum(s for _, _, s in days) / 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">Minutes per day, last {len(days)} days: '
        f'{total_minutes:.0f} minutes in all</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" '
        f'y2="{HEIGHT - PAD}" class="axis"/>',
        ]
    for i, (day, calls, seconds) in enumerate(days):
        height = (HEIGHT - 2 * PAD) * seconds / top
        x = PAD + i * bar
        y = HEIGHT - PAD - height
        label = escape(
            f'{day.isoformat()}: {calls} calls, {seconds / 60:.1f} minutes')
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}"'
            f' height="{height:.1f}" class="bar"><title>{label}</title>'
            '</rect>')
    first, last = days[0][0], days[-1][0]
    parts.append(
        f'<text x="{PAD}" y="{HEIGHT - 6}" class="tick">'
        f'{first.isoformat()}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" class="tick" '
        f'text-anchor="end">{last.isoformat()}</text>'
        f'<text x="{PAD}" y="{PAD - 8}" class="tick">'
        f'{top / 60:.0f} min</text>')
    parts.append('</svg>')
    return Markup(''.join(parts))
