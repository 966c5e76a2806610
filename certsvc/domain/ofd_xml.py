"""Writing OFD XML (GB/T 33190): the namespace, elements and numbers every OFD part uses.

The licence's pages (rendering) and its seal parts (crypto) are written by different layers
that must agree byte for byte on how a number or an element is spelled: a signed part is
hashed as written, and a reader compares what it finds with what the signature covers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

__all__ = ["OFD_NS", "QUALIFIED", "ofd_element", "ofd_number", "xml_document"]

OFD_NS = "http://www.ofdspec.org/2016"
QUALIFIED = f"{{{OFD_NS}}}"  # ElementTree's "{namespace}" prefix of an ofd: tag

ET.register_namespace("ofd", OFD_NS)


def ofd_element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """``<ofd:tag attrs>text</ofd:tag>`` appended to ``parent``."""
    element = ET.SubElement(parent, QUALIFIED + tag, attrs)
    if text is not None:
        element.text = text
    return element


def xml_document(root: ET.Element) -> bytes:
    """``root`` as a UTF-8 XML document with its declaration (what OFD readers expect)."""
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def ofd_number(value: float) -> str:
    """A length in OFD text: millimetres, 3 decimals (1 µm), no trailing zeros, never ``-0``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
