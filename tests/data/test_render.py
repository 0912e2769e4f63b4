"""Rendering marks the wrong cells, as text and as a PNG."""
import numpy as np

from attractor.data.render import MAZE_ALPHABET, render_png, render_text


def test_text_marks_wrong_cells_only():
    x = np.array([1, 2, 3, 4] * 4)
    y = np.array([5, 2, 3, 4] * 4)
    pred = y.copy()
    pred[5] = 3
    text = render_text(x, y, pred)
    assert text.splitlines()[0].split() == ["puzzle", "reference", "prediction"]
    assert text.count("!") == 1 and "2!" in text.splitlines()[2]


def test_png_written(tmp_path):
    x = np.array([3, 2, 2, 4, 2, 1, 2, 2, 2])
    path = render_png(tmp_path / "m.png", x, x, x, alphabet=MAZE_ALPHABET, title="maze")
    assert path.read_bytes()[:4] == b"\x89PNG"
