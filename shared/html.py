"""Building server-rendered HTML with ElementTree (which escapes every text and attribute)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def element(
    parent: ET.Element | None, tag: str, text: str | None = None, **attrs: str
) -> ET.Element:
    """An element, under ``parent`` if given (attribute names: ``class_`` → ``class``,
    ``data_x`` → ``data-x``)."""
    clean = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
    node = ET.Element(tag, clean) if parent is None else ET.SubElement(parent, tag, clean)
    if text is not None:
        node.text = text
    return node
