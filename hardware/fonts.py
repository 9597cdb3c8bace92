"""Finding a Chinese font and drawing its glyphs fast.

Receipts are rendered with a CJK font so Chinese prints on any printer: the
whole receipt for a printer without a Chinese font, and in text mode each
line holding a character the printer's own font lacks, plus the staff
preview. Fonts
are looked up once per process: opening a .ttc and rasterising glyphs is the
slow part of rendering (about 0.5 ms per font load and per line drawn), so a
:class:`FontChain` keeps every glyph it has drawn as a small 1-bit bitmap and a
receipt is then assembled by pasting those bitmaps.

A character the first font lacks is taken from the next font that has it
(per character, read from each font's ``cmap``), so 䶮 (U+4DAE) prints even if
the preferred font did not carry it. :func:`cjk_font_check` is what the core
calls at start and in ``kiosk doctor``: with no CJK font it says which Debian
package to install.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

from PIL import Image, ImageDraw, ImageFont

from kiosk_hardware.font_cmap import CharMap, FontFormatError

log = logging.getLogger(__name__)

DEBIAN_FONT_PACKAGE = "fonts-noto-cjk"
#: Characters a receipt font must have: common text, CJK punctuation, and a
#: rare Extension A character used in names (䶮).
PROBE_CHARS = "中文：，。、䶮"
#: Point a deployment at another font: ``/path/font.ttc`` or ``/path/font.ttc:2``.
FONT_ENV = "KIOSK_CJK_FONT"
#: Anti-aliased glyphs are cut at this grey level; thermal heads print dots,
#: and dithering would make small strokes ragged.
THRESHOLD = 128

#: (path, preferred family suffix) in order of preference.
REGULAR_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", " SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", ""),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", " SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "Zen Hei"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "Micro Hei"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", ""),
)
BOLD_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", " SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Bold.otf", ""),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", " SC"),
)


NO_FONT_MESSAGE = (
    "No Chinese (CJK) font found: receipts cannot print Chinese. "
    f"Install the Debian package {DEBIAN_FONT_PACKAGE} (apt-get install {DEBIAN_FONT_PACKAGE})."
)


class MissingCJKFontError(RuntimeError):
    """No font with Chinese characters is installed."""


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; ``synthetic_bold`` thickens a regular face."""

    path: str
    index: int
    family: str
    synthetic_bold: bool = False

    def charmap(self) -> CharMap:
        """The face's character coverage (read once per process)."""
        return _charmap(self.path, self.index)


@dataclass
class FontCheck:
    """Result of :func:`cjk_font_check`, shown at start and by ``kiosk doctor``."""

    ok: bool
    message: str
    face: FontFace | None = None
    missing: str = ""
    fallbacks: list[FontFace] = field(default_factory=list)


@cache
def _charmap(path: str, index: int) -> CharMap:
    return CharMap(path, index)


@cache
def _face_names(path: str) -> tuple[str, ...]:
    """Family names of every face in a font file or collection."""
    names = []
    for index in range(64):
        try:
            names.append(ImageFont.truetype(path, 12, index=index).getname()[0] or "")
        except OSError:
            break
    return tuple(names)


def _pick_face(path: str, family_hint: str) -> FontFace | None:
    names = _face_names(path)
    if not names:
        return None
    # A collection holds JP/KR/SC/TC/HK cuts of the same design; SC has the
    # mainland glyph shapes residents expect, and "Mono" faces are narrower.
    for index, name in enumerate(names):
        if family_hint and name.endswith(family_hint) and "Mono" not in name:
            return FontFace(path, index, name)
    return FontFace(path, 0, names[0])


def _env_face() -> FontFace | None:
    spec = os.environ.get(FONT_ENV, "").strip()
    if not spec:
        return None
    path, idx = spec, 0
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit():
        path, idx = head, int(tail)
    if not os.path.isfile(path):
        log.warning("%s=%s: no such font file", FONT_ENV, spec)
        return None
    names = _face_names(path)
    if idx >= len(names):
        log.warning("%s=%s: face index out of range", FONT_ENV, spec)
        return None
    return FontFace(path, idx, names[idx])


def find_faces(candidates: Iterable[tuple[str, str]] = REGULAR_CANDIDATES, *, use_env: bool = True) -> list[FontFace]:
    """Installed faces with Chinese characters, best first."""
    faces: list[FontFace] = []
    env = _env_face() if use_env else None
    if env is not None:
        faces.append(env)
    for path, hint in candidates:
        if not os.path.isfile(path):
            continue
        face = _pick_face(path, hint)
        if face is None or face in faces:
            continue
        try:
            if "中" not in face.charmap():
                continue
        except (OSError, FontFormatError) as exc:
            log.warning("cannot read font %s: %s", path, exc)
            continue
        faces.append(face)
    return faces


def cjk_font_check(candidates: Iterable[tuple[str, str]] | None = None) -> FontCheck:
    """Is a Chinese font installed, and does it cover :data:`PROBE_CHARS`?

    Call it at start and from ``kiosk doctor``. ``ok`` is False when no CJK
    font is found or a probe character is in none of them; ``message`` then
    names the Debian package to install.
    """
    faces = find_faces(REGULAR_CANDIDATES if candidates is None else candidates, use_env=candidates is None)
    if not faces:
        return FontCheck(ok=False, message=NO_FONT_MESSAGE)
    missing = "".join(ch for ch in PROBE_CHARS if not any(ch in f.charmap() for f in faces))
    if missing:
        return FontCheck(
            ok=False,
            face=faces[0],
            fallbacks=faces[1:],
            missing=missing,
            message=(
                f"Chinese font {faces[0].family} lacks {missing!r} and no fallback has it; "
                f"install the Debian package {DEBIAN_FONT_PACKAGE}."
            ),
        )
    return FontCheck(
        ok=True,
        face=faces[0],
        fallbacks=faces[1:],
        message=f"Chinese receipt font: {faces[0].family} ({faces[0].path}, face {faces[0].index})",
    )


@cache
def default_faces(bold: bool = False) -> tuple[FontFace, ...]:
    """The fallback chain used for receipts (bold: bold faces, then thickened regular ones)."""
    regular = find_faces(REGULAR_CANDIDATES)
    if not bold:
        return tuple(regular)
    bold_faces = find_faces(BOLD_CANDIDATES, use_env=False)
    thickened = [FontFace(f.path, f.index, f.family, synthetic_bold=True) for f in regular]
    return tuple(bold_faces + thickened)


@dataclass(frozen=True)
class Glyph:
    """A rendered character: ink mask (mode "1", or None for blank), offset from the pen, advance."""

    mask: Image.Image | None
    dx: int
    dy: int
    advance: float

    @property
    def width(self) -> int:
        """Mask width in dots (0 for blank)."""
        return self.mask.width if self.mask is not None else 0

    @property
    def height(self) -> int:
        """Mask height in dots (0 for blank)."""
        return self.mask.height if self.mask is not None else 0


_THRESHOLD_LUT = [255 if v >= THRESHOLD else 0 for v in range(256)]


class FontChain:
    """Fonts at one pixel size, tried in order per character, with a glyph cache.

    ``line_height`` and ``baseline`` are fixed ratios of the size rather than
    each font's own metrics, so a line mixing fonts stays on one baseline and
    both 58 mm and 80 mm layouts are predictable.
    """

    def __init__(self, faces: Sequence[FontFace], px: int) -> None:
        if not faces:
            raise MissingCJKFontError(NO_FONT_MESSAGE)
        self.faces = tuple(faces)
        self.px = px
        self.line_height = round(px * 1.3)
        self.baseline = round(px * 1.02)
        # Opened on first use: most receipts never need a fallback face, and each
        # open face maps its font file and keeps FreeType's tables (about 1 MB).
        self._fonts: list[ImageFont.FreeTypeFont | None] = [None] * len(self.faces)
        self._glyphs: dict[str, Glyph] = {}
        self._lock = threading.Lock()
        #: Characters no font has; they print as the first font's empty box.
        self.missing: set[str] = set()

    def _face_index(self, ch: str) -> int:
        for i, face in enumerate(self.faces):
            if ch in face.charmap():
                return i
        if ch.isprintable() and not ch.isspace():
            self.missing.add(ch)
        return 0

    def glyph(self, ch: str) -> Glyph:
        """The cached glyph for one character, rendering it on first use."""
        glyph = self._glyphs.get(ch)
        if glyph is None:
            with self._lock:
                glyph = self._glyphs.get(ch) or self._render(ch)
                self._glyphs[ch] = glyph
        return glyph

    def _font(self, i: int) -> ImageFont.FreeTypeFont:
        """Face ``i`` at this size, opened on first use (callers hold the lock)."""
        font = self._fonts[i]
        if font is None:
            face = self.faces[i]
            font = ImageFont.truetype(face.path, self.px, index=face.index, layout_engine=ImageFont.Layout.BASIC)
            self._fonts[i] = font
        return font

    def _render(self, ch: str) -> Glyph:
        i = self._face_index(ch)
        font = self._font(i)
        bold = self.faces[i].synthetic_bold
        advance = font.getlength(ch) + (1 if bold else 0)
        x0, y0, x1, y1 = font.getbbox(ch, anchor="ls")
        if x1 <= x0 or y1 <= y0:
            return Glyph(None, 0, 0, advance)
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
        grey = Image.new("L", (x1 - x0 + (1 if bold else 0), y1 - y0), 0)
        draw = ImageDraw.Draw(grey)
        draw.text((-x0, -y0), ch, font=font, fill=255, anchor="ls")
        if bold:
            # Drawing the glyph again one dot to the right thickens vertical
            # strokes, which is what makes text look bold on a thermal head.
            draw.text((-x0 + 1, -y0), ch, font=font, fill=255, anchor="ls")
        mask = grey.point(_THRESHOLD_LUT, "1")
        return Glyph(mask, x0, y0, advance)

    def advance(self, ch: str) -> float:
        """Horizontal advance of one character in dots."""
        return self.glyph(ch).advance

    def measure(self, text: str) -> float:
        """Width of a line of text in dots."""
        return sum(self.glyph(ch).advance for ch in text)


@lru_cache(maxsize=64)
def font_chain(px: int, bold: bool = False) -> FontChain:
    """The shared, cached chain for a size; raises MissingCJKFontError without a CJK font."""
    return FontChain(default_faces(bold), px)


def reset_font_cache() -> None:
    """Forget discovered fonts and glyphs (after installing fonts, or in tests)."""
    font_chain.cache_clear()
    default_faces.cache_clear()
    _face_names.cache_clear()
    _charmap.cache_clear()
