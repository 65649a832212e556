"""A fit's conventions and warnings under its figure, so a figure never travels without them."""

import textwrap


def add_caption(fig, fit, width: int = 130) -> None:
  """Wrapped small text below the axes (saved with bbox_inches='tight', so it is kept); warnings in red."""
  conv = textwrap.fill("; ".join(f"{k}: {v}" for k, v in fit.conventions.items()), width)
  warn = "\n".join(textwrap.fill(f"WARNING: {w}", width) for w in fit.warnings)
  if conv:
    fig.text(0.0, 0.0, conv, ha="left", va="top", fontsize=4.5, color="0.3")
  if warn:
    lines = conv.count("\n") + 1 if conv else 0
    fig.text(0.0, -0.028 * lines - 0.01, warn, ha="left", va="top", fontsize=5, color="crimson")
