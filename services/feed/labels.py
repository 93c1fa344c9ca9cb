"""How labels (stored lowercase) are shown: the seed page's forms, "Exclusive", "OPINION"."""

from __future__ import annotations

# The seed page writes these labels this way; any other label is shown capitalised.
DISPLAY = {
    "exclusive": "Exclusive",
    "opinion": "OPINION",
    "updated": "Updated",
    "review": "Review",
    "breaking": "Breaking",
}


def display_label(label: str) -> str:
    """``opinion`` → ``OPINION``, ``live-blog`` → ``Live-blog``."""
    return DISPLAY.get(label, label[:1].upper() + label[1:])
