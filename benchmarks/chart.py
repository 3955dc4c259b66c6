"""A grouped bar chart written as PNG with zlib and struct only.

matplotlib is not installed on the project machine and would be a heavy
dependency for one picture, so this draws the few things the ratio chart
needs (bars on a log scale around 1x, grid lines, a 5x7 pixel font) into an
RGB buffer and encodes it.
"""
from __future__ import annotations

import math
import struct
import zlib

# 5x7 glyphs: seven rows, five bits each, most significant bit on the left.
_FONT_HEX = {
    "0": "0E11131519110E", "1": "040C040404040E", "2": "0E11010204081F",
    "3": "1F02040201110E", "4": "02060A121F0202", "5": "1F101E0101110E",
    "6": "0608101E11110E", "7": "1F010204080808", "8": "0E11110E11110E",
    "9": "0E11110F01020C", "A": "0E11111F111111", "B": "1E11111E11111E",
    "C": "0E11101010110E", "D": "1C12111111121C", "E": "1F10101E10101F",
    "F": "1F10101E101010", "G": "0E11101711110F", "H": "1111111F111111",
    "I": "0E04040404040E", "J": "0702020202120C", "K": "11121418141211",
    "L": "1010101010101F", "M": "111B1515111111", "N": "11111915131111",
    "O": "0E11111111110E", "P": "1E11111E101010", "Q": "0E11111115120D",
    "R": "1E11111E141211", "S": "0F10100E01011E", "T": "1F040404040404",
    "U": "1111111111110E", "V": "11111111110A04", "W": "1111111515150A",
    "X": "11110A040A1111", "Y": "1111110A040404", "Z": "1F01020408101F",
    " ": "00000000000000", ".": "00000000000C0C", "_": "0000000000001F",
    "-": "0000001F000000", ":": "000C0C000C0C00", "/": "01010204081010",
    "(": "02040808080402", ")": "08040202020408", ",": "000000000C0408",
    ">": "08040201020408", "<": "02040810080402", "=": "00001F001F0000",
    "%": "18190204081303", "+": "0004041F040400", "?": "0E110102040004",
}
FONT = {ch: bytes.fromhex(h) for ch, h in _FONT_HEX.items()}
GLYPH_W, GLYPH_H = 6, 8  # with one column and one row of spacing

WHITE, BLACK, GREY, LIGHT = (255,) * 3, (30,) * 3, (120,) * 3, (225,) * 3
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
           (148, 103, 189), (140, 86, 75)]


class Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.px = bytearray(WHITE * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color) -> None:
        x0, x1 = sorted((max(0, x0), min(self.w, x1)))
        y0, y1 = sorted((max(0, y0), min(self.h, y1)))
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            i = (y * self.w + x0) * 3
            self.px[i:i + len(row)] = row

    def text(self, x: int, y: int, s: str, color=BLACK, scale: int = 1,
             anchor: str = "left") -> None:
        s = s.upper()
        width = len(s) * GLYPH_W * scale
        x -= {"left": 0, "center": width // 2, "right": width}[anchor]
        for k, ch in enumerate(s):
            rows = FONT.get(ch, FONT["?"])
            for r, bits in enumerate(rows):
                for c in range(5):
                    if bits & (0x10 >> c):
                        gx = x + (k * GLYPH_W + c) * scale
                        self.rect(gx, y + r * scale, gx + scale,
                                  y + (r + 1) * scale, color)

    def png(self) -> bytes:
        stride = self.w * 3
        raw = b"".join(b"\x00" + bytes(self.px[y * stride:(y + 1) * stride])
                       for y in range(self.h))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + tag + data
                    + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def ratio_chart(title: str, groups: list[str], series: list[str],
                ratios: dict[tuple[str, str], float]) -> bytes:
    """Bars of ratios per (group, series) on a log axis; 1x is the baseline,
    bars above it are wins.  A group shows only the series it has."""
    present = [v for v in ratios.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min([*present, 1.0])))
    hi = 10 ** math.ceil(math.log10(max([*present, 1.0]) * 1.0001))
    lo, hi = min(lo, 0.1), max(hi, 10.0)
    bar, gap, left, top, plot_h = 18, 30, 70, 70, 360
    shown = {g: [(i, ratios[g, name]) for i, name in enumerate(series)
                 if ratios.get((g, name), 0) > 0] for g in groups}
    groups = [g for g in groups if shown[g]] or groups

    def slot(g: str) -> int:  # room for the bars and for the label below
        return max(len(shown[g]) * bar, len(g) * GLYPH_W) + gap

    plot_w = sum(slot(g) for g in groups)
    width = max(left + plot_w + 20, 40 + GLYPH_W * 2 * len(title))
    canvas = Canvas(width, top + plot_h + 60)

    def y_of(v: float) -> int:
        frac = (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return top + plot_h - round(frac * plot_h)

    canvas.text(width // 2, 12, title, scale=2, anchor="center")
    x = left
    for i, name in enumerate(series):  # legend
        canvas.rect(x, 40, x + 10, 50, PALETTE[i % len(PALETTE)])
        canvas.text(x + 14, 42, "vs " + name)
        x += 14 + GLYPH_W * (len(name) + 4)
    decade = lo
    while decade <= hi * 1.0001:
        y = y_of(decade)
        canvas.rect(left - 4, y, width - 10, y + 1, BLACK if decade == 1 else LIGHT)
        canvas.text(left - 8, y - 3, f"{decade:g}x", GREY, anchor="right")
        decade *= 10
    base = y_of(1.0)
    x = left + gap // 2
    for group in groups:
        start = x
        x += (slot(group) - gap - len(shown[group]) * bar) // 2
        for i, v in shown[group]:
            y = y_of(min(max(v, lo), hi))
            canvas.rect(x, min(y, base), x + bar - 2, max(y, base) + 1,
                        PALETTE[i % len(PALETTE)])
            label = f"{v:.2g}" if v < 10 else f"{v:.0f}"
            canvas.text(x + bar // 2 - 1, y - 10 if v >= 1 else y + 3,
                        label, GREY, anchor="center")
            x += bar
        x = start + slot(group)
        canvas.text(start + (slot(group) - gap) // 2, top + plot_h + 12,
                    group, anchor="center")
    if not present:
        canvas.text(width // 2, top + plot_h // 4, "no ratios measured",
                    GREY, scale=2, anchor="center")
    return canvas.png()
