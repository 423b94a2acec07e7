"""The two Virtuoso themes (dark for the terminal at night, light for the day).

Any other Textual theme name (``nord``, ``gruvbox`` ...) is accepted too, so an
operator can pick one with ``--theme`` or from the command palette.
"""

from __future__ import annotations

from textual.theme import BUILTIN_THEMES, Theme

DARK = Theme(
    name="virtuoso-dark",
    primary="#4EA8DE",
    secondary="#7B61FF",
    accent="#F2A541",
    warning="#F2C14E",
    error="#E5484D",
    success="#3DD68C",
    foreground="#D8DEE9",
    background="#0F1419",
    surface="#161C23",
    panel="#1E2630",
    dark=True,
)

LIGHT = Theme(
    name="virtuoso-light",
    primary="#1F6FB2",
    secondary="#5B3FD9",
    accent="#B86E00",
    warning="#A86B00",
    error="#C62828",
    success="#1B7F4C",
    foreground="#1C232B",
    background="#F7F8FA",
    surface="#FFFFFF",
    panel="#E8ECF1",
    dark=False,
)

THEMES = (DARK, LIGHT)
ALIASES = {"dark": DARK.name, "light": LIGHT.name}


def resolve_theme(name: str) -> str:
    """``dark``/``light`` or any registered theme name; unknown names raise ValueError."""
    resolved = ALIASES.get(name, name)
    if resolved not in BUILTIN_THEMES and resolved not in {t.name for t in THEMES}:
        known = ", ".join(["dark", "light", *sorted(BUILTIN_THEMES)])
        raise ValueError(f"unknown theme {name!r} (known: {known})")
    return resolved
