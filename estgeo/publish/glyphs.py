"""Font glyphs for the embedded map's labels (street names), made by estgeo itself.

MapLibre draws text from signed-distance-field (SDF) glyphs, fetched as protobuf files of
256 code points each (`glyphs: …/{fontstack}/{range}.pbf`). They normally come from a
font server or a CDN, which a closed intranet cannot reach, and no npm package ships them
(`@openmaptiles/fonts` and the like are not on the registry; `fontnik` builds a native
module). So they are made here, from the DejaVu Sans that matplotlib already carries:
Pillow renders each glyph at 24 px and scipy's exact Euclidean distance transform gives
the distance field — the method of TinySDF, MapLibre's own renderer for local glyphs, with
its constants (3 px border, radius 8, cutoff 0.25: the glyph's edge is the value 191).
The protobuf (`glyphs.proto` of the Mapbox glyph format: fontstack name, range, and per
glyph id, bitmap, width, height, left, top, advance) is written by hand: seven fields do
not justify a protobuf dependency.

One range takes about 0.1 s to make and is kept in memory; Swedish needs only the first
(0–255, Latin-1 with å, ä, ö, é). A range the font has no glyph in is a valid, empty file,
so MapLibre logs no error for it.
"""

from __future__ import annotations

import os
from functools import cache, lru_cache

import numpy as np
from scipy import ndimage

#: The font every stack is drawn with (matplotlib's copy of DejaVu Sans).
FONT_NAME = "DejaVu Sans"
SIZE = 24
BUFFER = 3
RADIUS = 8.0
CUTOFF = 0.25
RANGE = 256


class GlyphRangeError(ValueError):
    """A range that is not one of MapLibre's (start a multiple of 256, end start + 255)."""


def _font_path() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")


@cache
def _font():
    from PIL import ImageFont

    # Pillow's basic layout: one code point at a time, no shaping (raqm fails on some).
    return ImageFont.truetype(_font_path(), SIZE, layout_engine=ImageFont.Layout.BASIC)


@cache
def _code_points() -> frozenset[int]:
    """The code points the font has a glyph for (its cmap, read with fontTools)."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(_font_path(), lazy=True).getBestCmap())


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _sint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint((value << 1) ^ (value >> 31))  # zigzag: 0, −1, 1, −2 … → 0, 1, 2, 3 …


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def sdf(alpha: np.ndarray) -> np.ndarray:
    """The signed distance field of a coverage image (0 … 1), as TinySDF encodes it:
    255 − 255 · (d / RADIUS + CUTOFF), d the distance to the edge (negative inside)."""
    inside = alpha >= 0.5
    if not inside.any():
        return np.zeros(alpha.shape, dtype=np.uint8)
    outside_distance = ndimage.distance_transform_edt(~inside)
    inside_distance = ndimage.distance_transform_edt(inside)
    distance = np.where(inside, -(inside_distance - 0.5), outside_distance - 0.5)
    return np.clip(np.round(255 - 255 * (distance / RADIUS + CUTOFF)), 0, 255).astype(np.uint8)


def glyph(code: int) -> bytes | None:
    """One glyph message, or None when the font has no glyph for `code`."""
    from PIL import Image, ImageDraw

    if code < 32 or code not in _code_points():
        return None
    font = _font()
    char = chr(code)
    advance = int(round(font.getlength(char)))
    x0, y0, x1, y1 = font.getbbox(char, anchor="ls")
    width, height = max(0, x1 - x0), max(0, y1 - y0)
    fields = [_uint(1, code)]
    alpha = np.zeros((0, 0))
    if width and height:
        image = Image.new("L", (width + 2 * BUFFER, height + 2 * BUFFER), 0)
        ImageDraw.Draw(image).text((BUFFER - x0, BUFFER - y0), char, font=font, fill=255, anchor="ls")
        alpha = np.asarray(image, dtype=float) / 255.0
    if alpha.size and alpha.max() > 0:
        fields.append(_bytes(2, sdf(alpha).tobytes()))
    else:  # a space (Pillow gives its advance as its box): nothing to draw
        width = height = 0
    # `top` as MapLibre's local glyphs give it (distance from the baseline to the glyph's
    # top, less 27), so these glyphs sit where its own would.
    fields += [_uint(3, width), _uint(4, height), _sint(5, int(x0)), _sint(6, int(-y0) - 27), _uint(7, advance)]
    return b"".join(fields)


@lru_cache(maxsize=16)
def glyph_range(fontstack: str, start: int, end: int) -> bytes:
    """The protobuf of one range of 256 code points for `fontstack`."""
    if start % RANGE or end != start + RANGE - 1 or start < 0 or end > 0xFFFF:
        raise GlyphRangeError(f"a glyph range is N*256-(N*256+255) up to 65535, not {start}-{end}")
    glyphs = [g for g in (glyph(code) for code in range(start, end + 1)) if g is not None]
    stack = _bytes(1, fontstack.encode("utf-8")) + _bytes(2, f"{start}-{end}".encode("ascii"))
    stack += b"".join(_bytes(3, g) for g in glyphs)
    return _bytes(1, stack)


__all__ = ["FONT_NAME", "GlyphRangeError", "glyph_range", "sdf"]
