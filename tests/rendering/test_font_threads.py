"""Documents saved in parallel threads share registered fonts; subsetting must not race."""

from __future__ import annotations

import inspect
import random
import sys
import threading
from collections.abc import Iterator

import pytest
from reportlab.pdfbase import ttfonts

from certsvc.rendering import fonts

pytestmark = pytest.mark.db_independent

# i and j are composite glyphs in AR PL UMing (dot + stem), as are accented Latin letters:
# subsetting walks their components, which is where the shared file position was read.
_CHARS = [ord(c) for c in "ijÀÁÂÃÄÅÇÈÉàáâãäå锡林郭勒盟市场监督管理局食品经营许可证行政审批和政务服务局"]


@pytest.fixture()
def fast_thread_switching() -> Iterator[None]:
    # Switch threads as often as possible, so that a race shows within a short test.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_parallel_subsetting_of_one_face_gives_the_serial_result(fast_thread_switching: None) -> None:
    face = fonts._font("song").face  # the face every document in the process shares
    subsets = [[0, *random.Random(seed).sample(_CHARS, 20)] for seed in range(16)]
    expected = [face.makeSubset(s) for s in subsets]
    failures: list[str] = []

    def work(i: int) -> None:
        for _ in range(6):
            try:
                if face.makeSubset(subsets[i]) != expected[i]:
                    failures.append(f"subset {i} differs")
            except Exception as exc:  # what a racing subset raised: KeyError, IndexError
                failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(subsets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_lock_sits_on_the_path_reportlab_subsets_through() -> None:
    # The lock wraps the face's makeSubset; this fails when a reportlab release subsets
    # through another path, which the lock would then no longer cover.
    source = inspect.getsource(ttfonts.TTFontFace.addSubsetObjects)
    assert "self.makeSubset(subset)" in source
    assert fonts._font("song").face.makeSubset.__name__ == "locked_subset"
