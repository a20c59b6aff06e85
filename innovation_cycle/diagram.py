"""The cycle's state diagram as inline SVG, drawn from the workflow's own transition table.

No Graphviz or JavaScript: the page works on a fresh machine and under the strict CSP. The current state is
highlighted; the same table gives a text list for screen readers.
"""

from __future__ import annotations

from flask_babel import gettext as _
from markupsafe import Markup, escape

from innovation_cycle.services.cycles import TRIGGER_LABELS, state_label
from workflows import cycle as flow

BOX_W, BOX_H, GAP, TOP = 128, 64, 28, 40


def _x(index: int) -> int:
    return 10 + index * (BOX_W + GAP)


def _label_lines(text: str, width: int = 18) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return lines[:3]


def cycle_svg(current: str | None) -> Markup:
    states = list(flow.STATES)
    width = _x(len(states)) + 10 - GAP
    height = TOP + BOX_H + 70
    title, current_label = _("Diagramme des étapes du cycle"), _("Étape actuelle")
    legend = _("→ avancer ; ↩ revenir (avec une raison)")
    parts = [
        f'<svg class="cycle-diagram" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="cycle-diagram-title cycle-diagram-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="cycle-diagram-title">{escape(title)}</title>',
        f'<desc id="cycle-diagram-desc">{escape(current_label)} : '
        f'{escape(state_label(current) if current else "—")}</desc>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    for t in flow.TRANSITIONS:
        i, j = states.index(t["source"]), states.index(t["dest"])
        if j > i:
            y = TOP + BOX_H // 2
            parts.append(f'<line class="edge" x1="{_x(i) + BOX_W}" y1="{y}" x2="{_x(j) - 2}" y2="{y}" '
                         f'marker-end="url(#arrow)"/>')
        else:
            x1, x2, y = _x(i) + BOX_W // 2, _x(j) + BOX_W // 2, TOP + BOX_H
            curve = f"M {x1} {y} C {x1} {y + 45}, {x2} {y + 45}, {x2} {y + 2}"
            parts.append(f'<path class="edge edge--back" d="{curve}" marker-end="url(#arrow)"/>')
    for index, state in enumerate(states):
        classes = "state state--current" if state == current else "state"
        x = _x(index)
        parts.append(f'<g class="{classes}" data-state="{state}">'
                     f'<rect x="{x}" y="{TOP}" width="{BOX_W}" height="{BOX_H}" rx="8"/>')
        lines = _label_lines(state_label(state))
        first_y = TOP + BOX_H // 2 - (len(lines) - 1) * 8 + 4
        for n, line in enumerate(lines):
            y = first_y + n * 16
            parts.append(f'<text x="{x + BOX_W // 2}" y="{y}" text-anchor="middle">{escape(line)}</text>')
        parts.append("</g>")
    parts.append(f'<text class="legend" x="10" y="20">{escape(legend)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def transition_rows() -> list[tuple[str, str, str]]:
    return [(state_label(t["source"]), str(TRIGGER_LABELS[t["trigger"]]), state_label(t["dest"]))
            for t in flow.TRANSITIONS]
