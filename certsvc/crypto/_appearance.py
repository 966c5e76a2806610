"""The visible part of a seal: its appearance form XObject, built once and stamped many times.

An appearance (the seal image over the department's name and the date, in a box of a given
size) is drawn once with pyHanko's content machinery into a scratch writer: the CJK font is
subset and embedded by pyHanko's ``GlyphAccumulator`` (Type0/CIDFontType2, Identity-H, with a
ToUnicode map, so the text stays extractable), the seal image goes in as pre-compressed
colour + soft-mask streams. The resulting object graph is then frozen into an
:class:`AppearanceTemplate`: streams keep their *encoded* bytes, dictionaries and arrays become
tuples, references become indices. Stamping a document only rebuilds those few objects in the
document's writer, so no font is subset, saved or compressed and no image is encoded per
document.

Templates are immutable and may be shared between threads.
"""

# pyHanko's generic PDF object constructors are untyped; the values passed are plain literals.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import functools
import io
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import AppearanceContent, ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from certsvc.domain.pdf_numbers import normalize_content_numbers, pdf_numbers
from certsvc.errors import SigningError

__all__ = [
    "DATE_CHARS",
    "AppearanceTemplate",
    "EncodedImage",
    "PrebuiltStampStyle",
    "build_seal_appearance",
]

# Glyphs every seal needs besides the department name: the date line.
DATE_CHARS = "0123456789年月日 "
# Seal images larger than this (pixels on the long side) are scaled down once: a 4 cm seal at
# 300 dpi is ~470 px; more only makes every sealed file larger.
_MAX_IMAGE_PX = 600
_MAX_FONT_SUBSETS = 32


# --- seal image ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EncodedImage:
    """An RGBA image as pre-compressed PDF image streams (colour + soft mask)."""

    width: int
    height: int
    rgb_flate: bytes
    alpha_flate: bytes | None

    @classmethod
    def from_png(cls, png: bytes) -> EncodedImage:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(png)) as opened:
                if opened.format != "PNG":
                    raise ValueError("not a PNG")
                img = opened.convert("RGBA")
        except Exception as exc:
            raise SigningError("the seal image is not a readable PNG") from exc
        longest = max(img.size)
        if longest > _MAX_IMAGE_PX:
            scale = _MAX_IMAGE_PX / longest
            # BOX (the area average) rather than LANCZOS: a seal is ink on nothing, and LANCZOS
            # rings at every edge, which nearly doubles the compressed image (the largest part of
            # every sealed file: 133 KB against 76 KB for the drawn seals).
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                Image.Resampling.BOX,
            )
        alpha = img.getchannel("A")
        lo, _hi = alpha.getextrema()
        alpha_flate = None if lo == 255 else zlib.compress(alpha.tobytes(), 9)
        rgb_flate = zlib.compress(img.convert("RGB").tobytes(), 9)
        return cls(img.width, img.height, rgb_flate, alpha_flate)

    def add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Write the image XObject (and its SMask) into ``writer``."""

        def stream(colour_space: str, data: bytes) -> generic.StreamObject:
            return generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Image"),
                    pdf_name("/Width"): generic.NumberObject(self.width),
                    pdf_name("/Height"): generic.NumberObject(self.height),
                    pdf_name("/ColorSpace"): pdf_name(colour_space),
                    pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                    pdf_name("/Filter"): pdf_name("/FlateDecode"),
                },
                encoded_data=data,
            )

        img = stream("/DeviceRGB", self.rgb_flate)
        if self.alpha_flate is not None:
            img[pdf_name("/SMask")] = writer.add_object(stream("/DeviceGray", self.alpha_flate))
        return writer.add_object(img)


# --- font ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=_MAX_FONT_SUBSETS)
def _font_subset(font_path: str, chars: frozenset[str]) -> bytes:
    """The first face of ``font_path`` cut to ``chars`` (cached: ~0.2 s per new character set)."""
    try:
        from fontTools import subset, ttLib
    except ImportError as exc:
        raise SigningError(
            "visible seals need pyHanko's OpenType support: pip install 'pyHanko[opentype]'"
        ) from exc
    font = (
        ttLib.TTFont(font_path, fontNumber=0)
        if font_path.endswith(".ttc")
        else ttLib.TTFont(font_path)
    )
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # GlyphAccumulator reads the PostScript name
    options.notdef_outline = True
    # fontTools logs a warning per dropped bitmap table (BDF, FFTM); noise, not a problem.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


# --- drawing (once per template) -----------------------------------------------------------
class _SealDrawing(AppearanceContent):
    """Name and date centred in the box, the seal image over them (ink over print)."""

    # Multiply keeps the black text legible under red ink, like a real stamp on paper.
    SEAL_OPACITY = 0.9

    def __init__(
        self,
        writer: BasePdfFileWriter,
        box: layout.BoxConstraints,
        *,
        font_bytes: bytes,
        lines: tuple[str, ...],
        image: EncodedImage,
    ) -> None:
        super().__init__(writer=writer, box=box)
        self._font_bytes = font_bytes
        self._lines = lines
        self._image = image
        self.font_engine: Any = None

    def render(self) -> bytes:
        w, h = float(self.box.width), float(self.box.height)
        return b" ".join([b"q", self._render_lines(w, h), self._render_seal(w, h), b"Q"])

    def _render_lines(self, w: float, h: float) -> bytes:
        if not self._lines:  # the page itself prints the name and date under the seal
            return b""
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulator

        engine: Any = GlyphAccumulator(
            writer=self._ensure_writer, font_handle=io.BytesIO(self._font_bytes), font_size=10
        )
        self.font_engine = engine
        # Advances are in em: pick the size that fits the widest line into 90 % of the box.
        widths = [engine.shape(line, with_actual_text=False).x_advance for line in self._lines]
        size = min(h * 0.13, 0.9 * w / max(max(widths), 1e-6))
        engine.font_size = size
        self.set_resource(ResourceType.FONT, pdf_name("/FSeal"), engine.as_resource())
        leading = size * 1.35
        # The text block sits slightly below the centre, where the seal's lower half covers it.
        top = h * 0.42 + leading * (len(self._lines) - 1) / 2
        out = [b"BT 0 g /FSeal " + pdf_numbers(size) + b" Tf"]
        for i, (line, width) in enumerate(zip(self._lines, widths, strict=True)):
            x = (w - width * size) / 2
            y = top - i * leading
            out.append(b"1 0 0 1 " + pdf_numbers(x, y) + b" Tm")
            # The shaping engine positions glyphs with %g, which can write exponents.
            out.append(normalize_content_numbers(engine.shape(line).graphics_ops))
        out.append(b"ET")
        return b" ".join(out)

    def _render_seal(self, w: float, h: float) -> bytes:
        img = self._image
        self.set_resource(
            ResourceType.XOBJECT, pdf_name("/SealImg"), img.add_to(self._ensure_writer)
        )
        opacity = generic.FloatObject(self.SEAL_OPACITY)
        self.set_resource(
            ResourceType.EXT_G_STATE,
            pdf_name("/SealGS"),
            generic.DictionaryObject(
                {
                    pdf_name("/ca"): opacity,
                    pdf_name("/CA"): opacity,
                    pdf_name("/BM"): pdf_name("/Multiply"),
                }
            ),
        )
        scale = min(w / img.width, h / img.height)
        iw, ih = img.width * scale, img.height * scale
        # (w - iw) / 2 is a rounding residue like 7.1e-15 for a square image in a square box.
        matrix = pdf_numbers(iw, 0, 0, ih, (w - iw) / 2, (h - ih) / 2)
        return b"q /SealGS gs " + matrix + b" cm /SealImg Do Q"


# --- template ------------------------------------------------------------------------------
# Frozen object graph: ("d", ((key, value), ...)) dictionary, ("a", (value, ...)) array,
# ("s", dict items, encoded bytes) stream, _Ref(i) reference to node i, anything else a PDF
# primitive (names, numbers, strings: immutable, shared between documents).
class _Ref(int):
    __slots__ = ()


def _freeze_value(value: Any, freezer: _Freezer) -> Any:
    if isinstance(value, generic.IndirectObject):
        return freezer.node(value)
    if isinstance(value, generic.StreamObject):
        raise ValueError("a stream must be an indirect object")
    if isinstance(value, generic.DictionaryObject):
        return ("d", tuple((k, _freeze_value(v, freezer)) for k, v in dict.items(value)))
    if isinstance(value, generic.ArrayObject):
        return ("a", tuple(_freeze_value(v, freezer) for v in list.__iter__(value)))
    if isinstance(
        value,
        generic.NameObject
        | generic.NumberObject
        | generic.FloatObject
        | generic.TextStringObject
        | generic.ByteStringObject
        | generic.BooleanObject
        | generic.NullObject,
    ):
        return value
    raise TypeError(f"cannot freeze {type(value).__name__}")


class _Freezer:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self._index: dict[tuple[int, int], _Ref | None] = {}

    def node(self, ref: generic.IndirectObject) -> _Ref:
        key = (ref.idnum, ref.generation)
        if key in self._index:
            done = self._index[key]
            if done is None:
                raise ValueError("cyclic appearance object graph")
            return done
        self._index[key] = None
        obj = ref.get_object()
        # Post-order: an object's references all have lower indices, so documents get them first.
        if isinstance(obj, generic.StreamObject):
            items = tuple((k, _freeze_value(v, freezer=self)) for k, v in dict.items(obj))
            frozen: Any = ("s", items, obj.encoded_data)
        else:
            frozen = _freeze_value(obj, self)
        self.nodes.append(frozen)
        self._index[key] = done = _Ref(len(self.nodes) - 1)
        return done


def _thaw(value: Any, refs: list[generic.IndirectObject]) -> Any:
    if isinstance(value, _Ref):
        return refs[value]
    if isinstance(value, tuple):
        kind, body = value[0], value[1]
        if kind == "d":
            return generic.DictionaryObject({k: _thaw(v, refs) for k, v in body})
        return generic.ArrayObject([_thaw(v, refs) for v in body])
    return value


@dataclass(frozen=True, slots=True)
class AppearanceTemplate:
    """A frozen appearance object graph; :meth:`add_to` re-creates it in a document."""

    nodes: tuple[Any, ...]
    width: float
    height: float

    @classmethod
    def freeze(
        cls, root: generic.IndirectObject, width: float, height: float
    ) -> AppearanceTemplate:
        freezer = _Freezer()
        top = freezer.node(root)
        if top != len(freezer.nodes) - 1:  # pragma: no cover - post-order guarantees it
            raise AssertionError("the root must be the last node")
        return cls(tuple(freezer.nodes), width, height)

    def add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Add fresh copies of the objects to ``writer``; returns the form XObject's reference."""
        refs: list[generic.IndirectObject] = []
        for node in self.nodes:
            if node[0] == "s":
                obj: Any = generic.StreamObject(
                    {k: _thaw(v, refs) for k, v in node[1]}, encoded_data=node[2]
                )
            else:
                obj = _thaw(node, refs)
            refs.append(writer.add_object(obj))
        return refs[-1]


def build_seal_appearance(
    *,
    font_path: str,
    department_name: str,
    date_text: str,
    image: EncodedImage,
    width: float,
    height: float,
    show_text: bool = True,
) -> AppearanceTemplate:
    """Draw the seal appearance once (~10-20 ms: font subsetting) and freeze it.

    With ``show_text`` False the appearance is the seal image alone, for documents that print
    the department's name and the date under the seal themselves (every certsvc template).
    """
    lines = (department_name, date_text) if show_text else ()
    font_bytes = (
        _font_subset(font_path, frozenset(department_name + DATE_CHARS)) if show_text else b""
    )
    scratch = PdfFileWriter(stream_xrefs=False)
    drawing = _SealDrawing(
        scratch,
        layout.BoxConstraints(width=width, height=height),
        font_bytes=font_bytes,
        lines=lines,
        image=image,
    )
    form = drawing.as_form_xobject()
    form.compress()
    root = scratch.add_object(form)
    if drawing.font_engine is not None:
        # Embeds the font subset (what the writer would otherwise do when the document is saved).
        drawing.font_engine.prepare_write()
    return AppearanceTemplate.freeze(root, width, height)


class _PrebuiltStamp(BaseStamp):
    """Stamps a template: pyHanko only calls ``apply_appearance`` → ``register``."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        style: PrebuiltStampStyle,
        box: layout.BoxConstraints,
        template: AppearanceTemplate,
    ) -> None:
        super().__init__(writer=writer, style=style, box=box)
        self._template = template

    def render(self) -> bytes:  # pragma: no cover - register() never renders
        raise NotImplementedError("a prebuilt stamp is registered, not rendered")

    def register(self) -> generic.IndirectObject:
        ref = self._content_xobj_ref
        if ref is None:
            self._content_xobj_ref = ref = self._template.add_to(self._ensure_writer)
        return ref


@dataclass(frozen=True)
class PrebuiltStampStyle(BaseStampStyle):
    """A pyHanko stamp style that stamps a template for the annotation's (width, height)."""

    template_for: Callable[[float, float], AppearanceTemplate] | None = None

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> _PrebuiltStamp:
        assert self.template_for is not None
        width, height = float(box.width), float(box.height)
        return _PrebuiltStamp(writer, self, box, self.template_for(width, height))
