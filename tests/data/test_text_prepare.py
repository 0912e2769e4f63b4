"""Preparing token shards: exact round trips, the recorded train/val/test split, determinism, and every
bad input."""
import json
from pathlib import Path

import numpy as np
import pytest

from attractor.data.grid_csv import DataFormatError
from attractor.data.text.__main__ import main
from attractor.data.text.corpus import merge_ranges
from attractor.data.text.prepare import prepare, prepare_corpus
from attractor.data.text.shards import SPLITS, read_meta, shard_dtype
from attractor.data.text.tokenizer import load_tokenizer

SHAKESPEARE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "text" / "tinyshakespeare.txt"


def write_corpus(root: Path) -> list[Path]:
    """Two documents and a folder with one more; accents, emoji and CRLF included."""
    (root / "docs" / "sub").mkdir(parents=True)
    files = [root / "a.txt", root / "docs" / "b.md", root / "docs" / "sub" / "c.txt"]
    files[0].write_text("".join(f"line {i}: naïve café 🎉\n" for i in range(60)), encoding="utf-8")
    files[1].write_text("".join(f"Ünïcode {i} — 中文\r\n" for i in range(40)), encoding="utf-8")
    files[2].write_text("no trailing newline 👩‍👩‍👧", encoding="utf-8")
    (root / "docs" / ".hidden").write_bytes(b"\0\1\2")  # hidden files are skipped
    return files


def decoded_splits(out: Path) -> dict[str, str]:
    meta = json.loads((out / "meta.json").read_text())
    tok = load_tokenizer(out)
    return {s: tok.decode(np.fromfile(out / f"{s}.bin", dtype=meta["dtype"])) for s in SPLITS}


def expected_splits(out: Path) -> dict[str, str]:
    """What meta.json says went where, read back from the source files; the splits' byte ranges must
    tile every file exactly (disjoint, and covering the corpus)."""
    meta = json.loads((out / "meta.json").read_text())
    expect = dict.fromkeys(SPLITS, "")
    for record in meta["files"]:
        data = Path(record["path"]).read_bytes()
        covered = sorted(r for s in expect for r in record[s])
        assert [r[0] for r in covered] == [0] + [r[1] for r in covered[:-1]] and covered[-1][1] == len(data)
        for split in expect:
            expect[split] += "".join(data[a:b].decode("utf-8") for a, b in record[split])
    return expect


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_prepare_round_trips_exactly(tmp_path, kind):
    files = write_corpus(tmp_path)
    out = tmp_path / "out"
    meta = prepare([files[0], tmp_path / "docs"], out, kind, vocab_size=300 if kind == "bpe" else None,
                   chunk_bytes=200)
    assert [r["path"] for r in meta["files"]] == [str(f) for f in files]
    assert min(meta["tokens"].values()) > 0 and meta["tokens"]["train"] > meta["tokens"]["val"]
    assert decoded_splits(out) == expected_splits(out)
    assert sum(meta["bytes"].values()) == sum(f.stat().st_size for f in files)
    assert meta["dtype"] == "uint16" and load_tokenizer(out).fingerprint == meta["tokenizer"]["fingerprint"]


def test_split_is_fixed_by_seed(tmp_path):
    files = write_corpus(tmp_path)
    runs = {name: prepare(files, tmp_path / name, "char", seed=seed, chunk_bytes=100)
            for name, seed in [("a", 1), ("b", 1), ("c", 2)]}
    assert runs["a"]["files"] == runs["b"]["files"]
    assert all((tmp_path / "a" / f"{s}.bin").read_bytes() == (tmp_path / "b" / f"{s}.bin").read_bytes() for s in SPLITS)
    assert runs["a"]["files"] != runs["c"]["files"]


def test_val_and_test_fractions_are_honoured(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("".join(f"{i:09d}\n" for i in range(200)))  # 200 chunks of 10 bytes
    meta = prepare([f], tmp_path / "out", "char", val_fraction=0.25, chunk_bytes=10, test_fraction=0.15)
    assert {s: sum(b - a for a, b in meta["files"][0][s]) for s in SPLITS} == {"train": 1200, "val": 500, "test": 300}
    assert meta["settings"]["test_fraction"] == 0.15 and meta["bytes"]["test"] == 300


def test_adding_the_test_split_kept_the_val_text(tmp_path):
    """Val is drawn as it was before test existed: the chunks a seed gave val stay val."""
    f = tmp_path / "t.txt"
    f.write_text("".join(f"{i:09d}\n" for i in range(200)))
    meta = prepare([f], tmp_path / "out", "char", val_fraction=0.1, chunk_bytes=10, seed=7)
    before = np.random.default_rng(7).choice(200, 20, replace=False)  # the draw of the train/val-only format
    assert merge_ranges(sorted((10 * int(i), 10 * int(i) + 10) for i in before)) == meta["files"][0]["val"]


def test_prepare_corpus_is_a_no_op_when_prepared(tmp_path):
    files = write_corpus(tmp_path)
    out = prepare_corpus(files, tmp_path / "out")
    stamp = (out / "train.bin").stat().st_mtime_ns
    assert prepare_corpus(files, out) == out
    assert (out / "train.bin").stat().st_mtime_ns == stamp
    files[0].write_text("changed text\n" * 50)  # the source changed: prepare again
    prepare_corpus(files, out)
    assert "changed text" in "".join(decoded_splits(out).values())
    prepare_corpus(files, out, seed=5)
    assert json.loads((out / "meta.json").read_text())["settings"]["seed"] == 5
    prepare_corpus(files, out, seed=5, test_fraction=0.2)
    assert json.loads((out / "meta.json").read_text())["settings"]["test_fraction"] == 0.2


def test_a_folder_of_the_train_val_format_is_prepared_again(tmp_path):
    files = write_corpus(tmp_path)
    out = prepare_corpus(files, tmp_path / "out")
    meta = json.loads((out / "meta.json").read_text())
    old = {**meta, "format": 1, "tokens": {s: meta["tokens"][s] for s in ("train", "val")},
           "settings": {k: v for k, v in meta["settings"].items() if k != "test_fraction"}}
    (out / "meta.json").write_text(json.dumps(old))
    (out / "test.bin").unlink()
    with pytest.raises(DataFormatError, match="format 1, not 2 .*prepare the corpus again"):
        read_meta(out)
    prepare_corpus(files, out)
    assert read_meta(out)["tokens"]["test"] == meta["tokens"]["test"] and (out / "test.bin").exists()


def test_reuse_tokenizer_from_earlier_run(tmp_path):
    files = write_corpus(tmp_path)
    prepare(files, tmp_path / "first", "bpe", vocab_size=300)
    meta = prepare(files[:1], tmp_path / "second", tokenizer=None, tokenizer_from=tmp_path / "first")
    assert meta["tokenizer"]["fingerprint"] == load_tokenizer(tmp_path / "first").fingerprint
    assert decoded_splits(tmp_path / "second") == expected_splits(tmp_path / "second")
    with pytest.raises(ValueError, match="is a bpe tokenizer, not char"):
        prepare(files, tmp_path / "third", "char", tokenizer_from=tmp_path / "first")


def test_shard_dtype_widens_past_uint16():
    assert shard_dtype(65536) == np.uint16 and shard_dtype(65537) == np.uint32


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: no such file"):
        prepare([tmp_path / "nope.txt"], tmp_path / "out")


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="empty corpus: no text in .*empty.txt.*folder"):
        prepare([tmp_path / "empty.txt", tmp_path / "folder"], tmp_path / "out")


def test_binary_and_non_utf8_files_name_file_and_line(tmp_path):
    (tmp_path / "ok.txt").write_text("fine\n" * 10)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(DataFormatError, match=r"image.png:3: binary file \(NUL byte"):
        prepare([tmp_path / "ok.txt", binary], tmp_path / "out")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("one\ntwo\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1.txt:3: not UTF-8 text \(byte 0xe9"):
        prepare([latin1], tmp_path / "out")


def test_unknown_character_for_reused_char_tokenizer(tmp_path):
    (tmp_path / "a.txt").write_text("abc\n" * 50)
    (tmp_path / "b.txt").write_text("abc\n" * 30 + "abz\n")
    prepare([tmp_path / "a.txt"], tmp_path / "first", "char")
    with pytest.raises(DataFormatError, match=r"b.txt:31: character 'z' is not in the tokenizer's vocabulary"):
        prepare([tmp_path / "b.txt"], tmp_path / "second", tokenizer=None, tokenizer_from=tmp_path / "first",
                chunk_bytes=16)


def test_bad_settings(tmp_path):
    (tmp_path / "a.txt").write_text("abc\n" * 50)
    with pytest.raises(ValueError, match="val_fraction"):
        prepare([tmp_path / "a.txt"], tmp_path / "out", val_fraction=0.0)
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got 1.0"):
        prepare([tmp_path / "a.txt"], tmp_path / "out", test_fraction=1.0)
    with pytest.raises(ValueError, match="makes 10 chunk.*6 val \\+ 4 test \\+ 1 train needs at least 11"):
        prepare([tmp_path / "a.txt"], tmp_path / "out", val_fraction=0.6, test_fraction=0.4, chunk_bytes=20)
    with pytest.raises(ValueError, match="vocab_size applies only"):
        prepare([tmp_path / "a.txt"], tmp_path / "out", "char", vocab_size=100)
    with pytest.raises(ValueError, match="makes 1 chunk"):
        prepare([tmp_path / "a.txt"], tmp_path / "out", chunk_bytes=10_000)


def test_cli_prepare_and_error_exit(tmp_path, capsys):
    files = write_corpus(tmp_path)
    assert main(["prepare", "--input", str(files[0]), str(tmp_path / "docs"), "--out", str(tmp_path / "out"),
                 "--tokenizer", "bpe", "--vocab-size", "280", "--seed", "3", "--test-fraction", "0.2"]) == 0
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["settings"]["seed"] == 3 and meta["tokenizer"]["vocab_size"] == 280
    assert meta["settings"]["test_fraction"] == 0.2 and "train + " in capsys.readouterr().out
    assert main(["prepare", "--input", str(tmp_path / "gone"), "--out", str(tmp_path / "o2"),
                 "--tokenizer", "char"]) == 1
    assert "gone: no such file or folder" in capsys.readouterr().err


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="Tiny Shakespeare not in ../shared/data/text")
def test_tiny_shakespeare_char(tmp_path):
    meta = prepare([SHAKESPEARE], tmp_path / "ts", "char")
    assert meta["tokenizer"]["vocab_size"] == 65
    assert sum(meta["tokens"].values()) == len(SHAKESPEARE.read_text(encoding="utf-8"))
    assert all(0.09 < meta["tokens"][s] / sum(meta["tokens"].values()) < 0.11 for s in ("val", "test"))
