"""A template's static layer: drawn once per process, replayed into every licence's PDF.

Everything on a page that does not depend on the licence — frame, guilloche, rules, fixed
texts, field labels, table grids and headers — is the same for every licence of a template. It
is drawn once onto a scratch canvas and kept as the page's content operators plus reportlab's
font bookkeeping at that point (which glyph got which code in which subset). A licence's PDF
starts from that state, takes the operators as they are, and draws only its own data.

Why the font state travels with the operators: the operators name glyphs by the codes reportlab
hands out in order of first use per document. Every document starts with the same static layer,
so the codes it hands out are the same in every document, and the licence's own characters get
the next codes, exactly as when the static layer is drawn afresh.

A layer is keyed by the template *object* (a reloaded or changed template is a new object), the
page count (``{pages}`` texts and per-page items depend on it) and the font registration (new
font files are new reportlab fonts). It holds the template so the key's ``id`` stays its own.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering import fonts
from certsvc.rendering.template_model import LicenceTemplate

__all__ = ["FontStates", "StaticLayer", "prepared_layer", "reuse_static_layers", "static_layer"]


@dataclass(frozen=True)
class FontStates:
    """reportlab's per-document font bookkeeping (codes, subsets, ``/F1`` names) at one point."""

    mapping: tuple[tuple[str, str], ...]  # the document's font name → ``/Fn`` resource name
    delayed: tuple[TTFont, ...]  # fonts whose objects the document writes when saved, in order
    states: tuple[tuple[TTFont, Any], ...]  # each font's ``TTFont.State`` for the document

    @classmethod
    def capture(cls, canvas: Canvas) -> FontStates:
        doc = canvas._doc
        states = []
        for name in pdfmetrics.getRegisteredFontNames():
            font = pdfmetrics.getFont(name)
            state = font.state.get(doc) if isinstance(font, TTFont) else None
            if state is not None:
                states.append((font, _copy_state(state)))
        return cls(tuple(doc.fontMapping.items()), tuple(doc.delayedFonts), tuple(states))

    def install(self, canvas: Canvas) -> None:
        """Make ``canvas``'s fresh document continue from this point (before anything is drawn)."""
        doc = canvas._doc
        doc.fontMapping.update(self.mapping)
        doc.delayedFonts.extend(self.delayed)
        for font, state in self.states:
            font.state[doc] = _copy_state(state)


def _copy_state(state: Any) -> Any:
    """A copy of a ``TTFont.State`` that drawing into another document cannot change."""
    copied = copy.copy(state)
    copied.assignments = dict(state.assignments)
    copied.subsets = [list(subset) for subset in state.subsets]
    return copied


@dataclass(frozen=True)
class StaticLayer:
    """The content operators of each page's static layer and the font state after all of them."""

    template: LicenceTemplate
    pages: tuple[tuple[str, ...], ...]
    fonts: FontStates

    def start(self, canvas: Canvas) -> None:
        """Install the font state on a fresh canvas (call before drawing anything on it)."""
        self.fonts.install(canvas)

    def replay(self, canvas: Canvas, page: int) -> None:
        """Append page ``page``'s static operators to the canvas's current page."""
        canvas._code.extend(self.pages[page])


_lock = threading.Lock()
_layers: OrderedDict[tuple[int, int, int], StaticLayer] = OrderedDict()
_LAYERS_KEPT = 64  # templates × page counts a process renders; each layer is a few hundred KB
_reuse = [True]


def reuse_static_layers(enabled: bool) -> None:
    """Keep (the default) or stop keeping prepared layers; off, every render prepares its own
    (the benchmark's same-run baseline, and tests comparing both paths)."""
    with _lock:
        _reuse[0] = enabled
        if not enabled:
            _layers.clear()


def prepared_layer(template: LicenceTemplate, pages: int) -> StaticLayer | None:
    """The layer kept for ``template`` on ``pages`` pages, if one is (for tests and diagnostics)."""
    with _lock:
        layer = _layers.get((id(template), pages, fonts.generation()))
    return layer if layer is not None and layer.template is template else None


def static_layer(
    template: LicenceTemplate,
    pages: int,
    *,
    new_canvas: Callable[[], Canvas],
    draw: Callable[[Canvas, int], None],
    reserve: Iterable[tuple[str, str]] = (),
) -> StaticLayer:
    """The static layer of ``template`` laid out on ``pages`` pages, prepared on first use.

    ``draw(canvas, page)`` draws page ``page``'s static items; ``reserve`` lists (font key, text)
    whose characters get their codes right after the static layer's, drawn or not (the print
    copy's 打印件 note: the electronic copy then has the same font subsets as the print copy).
    """
    key = (id(template), pages, fonts.generation())
    with _lock:
        layer = _layers.get(key)
        if layer is not None and layer.template is template:
            _layers.move_to_end(key)
            return layer
    canvas = new_canvas()
    recorded = []
    for page in range(pages):
        start = len(canvas._code)
        # q … Q: whatever colour, line width or font the layer leaves set stops at its end,
        # so the licence's own drawing starts from the page's initial state in every document.
        canvas.saveState()
        draw(canvas, page)
        canvas.restoreState()
        recorded.append(tuple(canvas._code[start:]))
        canvas.showPage()
    for key_name, text in reserve:
        for font_name, run in fonts.runs(text, key_name):
            pdfmetrics.getFont(font_name).splitString(run, canvas._doc)
    layer = StaticLayer(template, tuple(recorded), FontStates.capture(canvas))
    with _lock:
        if _reuse[0]:
            _layers[key] = layer
            while len(_layers) > _LAYERS_KEPT:
                _layers.popitem(last=False)
    return layer
