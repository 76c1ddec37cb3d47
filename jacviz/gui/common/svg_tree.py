"""SVG drawings as XML trees: plots nested into a page, and strokes made renderer-proof.

QSvgGenerator's output needs two repairs before a figure's SVG file is written
(:func:`jacviz.gui.common.export.svg_bytes`): plots drawn on their own are nested into the
page at their place (:func:`nest_svg`), and strokes kept 1 px wide by an attribute many
renderers ignore are drawn in page coordinates instead (:func:`bake_cosmetic_strokes`).
Plain XML work with ElementTree, no Qt.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"

# Written SVG keeps the plain prefixes Qt uses (the registry is ElementTree's, process-wide).
ElementTree.register_namespace("", SVG_NAMESPACE)
ElementTree.register_namespace("xlink", XLINK_NAMESPACE)


def nest_svg(outer: bytes, inner: list[tuple[bytes, tuple[int, int]]]) -> ElementTree.Element:
    """``outer`` with each ``inner`` drawing placed in it, its top-left corner at the (x, y) given.

    Each inner drawing becomes a group moved to its place; its ``id`` attributes (of clip
    paths and gradients) are prefixed so that those of different drawings stay apart.
    """
    document = ElementTree.fromstring(outer)
    # Clip paths are SVG 1.1, not SVG Tiny 1.2 (which the outer drawing was written as).
    document.set("version", "1.1")
    document.attrib.pop("baseProfile", None)
    skipped = {svg_tag("title"), svg_tag("desc")}
    for index, (data, corner) in enumerate(inner):
        drawing = ElementTree.fromstring(data)
        prefix = f"plot{index + 1}-"
        for element in drawing.iter():
            for key, value in element.attrib.items():
                if key == "id":
                    element.set(key, prefix + value)
                elif "url(#" in value:
                    element.set(key, value.replace("url(#", f"url(#{prefix}"))
        group = ElementTree.SubElement(
            document, svg_tag("g"), transform=f"translate({corner[0]},{corner[1]})"
        )
        group.extend(child for child in drawing if child.tag not in skipped)
    return document


def svg_tag(tag: str) -> str:
    """The ElementTree name of the SVG element ``tag`` (its namespace in braces)."""
    return f"{{{SVG_NAMESPACE}}}{tag}"


_MATRIX = re.compile(r"matrix\(([^)]*)\)")
_NUMBER = r"(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_PAIR = re.compile(_NUMBER + "," + _NUMBER)


def _mapped_pairs(text: str, matrix: tuple[float, ...]) -> str:
    """``text`` with every ``x,y`` pair mapped by the SVG matrix ``(a, b, c, d, e, f)``.

    Qt writes paths with absolute commands only (M, L, C, Z), so mapping each pair maps the
    shape (affine maps keep lines straight and Bézier control points in place).
    """
    a, b, c, d, e, f = matrix

    def mapped(match: re.Match) -> str:
        x, y = float(match[1]), float(match[2])
        return f"{a * x + c * y + e:.7g},{b * x + d * y + f:.7g}"

    return _PAIR.sub(mapped, text)


def bake_cosmetic_strokes(document: ElementTree.Element) -> None:
    """Draw shapes with screen-width strokes in screen coordinates, not in a plot's own.

    QSvgGenerator writes a curve of a plot in the plot's data coordinates, inside a group
    whose transform maps them to the page, and keeps its stroke 1 px wide with
    ``vector-effect="non-scaling-stroke"``. Many renderers ignore that attribute (librsvg,
    ImageMagick, some editors) and draw such a line one data unit wide. Here the transform
    is applied to the shapes' coordinates instead, so that the stroke width needs no effect.
    Groups holding anything else (text, images) keep their transform.
    """
    for group in document.iter(svg_tag("g")):
        match = _MATRIX.fullmatch(group.get("transform", "").strip())
        if match is None:
            continue
        matrix = tuple(float(v) for v in match.group(1).split(","))
        if matrix[:4] == (1, 0, 0, 1):
            continue  # a translation: strokes keep their width anyway
        shapes = list(group)
        if not any(s.get("vector-effect") == "non-scaling-stroke" for s in shapes):
            continue

        baked = []
        for shape in shapes:
            tag = shape.tag
            if tag == svg_tag("path"):
                baked.append((shape, "d", _mapped_pairs(shape.get("d", ""), matrix)))
            elif tag in (svg_tag("polyline"), svg_tag("polygon")):
                baked.append((shape, "points", _mapped_pairs(shape.get("points", ""), matrix)))
            else:
                break  # a rectangle, text or image: leave this group as it is
        else:
            for shape, key, value in baked:
                shape.set(key, value)
                shape.attrib.pop("vector-effect", None)
            del group.attrib["transform"]
