"""TextDataModule: window shapes, no window mixing splits, val and test served apart, reproducible
sampling, bad shards."""
import json
import pickle

import numpy as np
import pytest
import torch

from attractor.data.grid_csv import DataFormatError
from attractor.data.text.dataset import TextDataModule
from attractor.data.text.prepare import prepare
from attractor.data.text.shards import SPLITS
from attractor.data.text.tokenizer import load_tokenizer

SEQ = 8


@pytest.fixture
def corpus(tmp_path):
    """One chunk per line, every line its own repeated character: a token's value says its chunk."""
    lines = [chr(0x100 + i) * 15 + "\n" for i in range(40)]
    (tmp_path / "t.txt").write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    meta = prepare([tmp_path / "t.txt"], out, "char", val_fraction=0.25, chunk_bytes=1, test_fraction=0.1)
    data = (tmp_path / "t.txt").read_bytes()
    return out, {s: set("".join(data[a:b].decode("utf-8") for a, b in meta["files"][0][s])) - {"\n"}
                 for s in SPLITS}


def seen_chars(loader, tok) -> set[str]:
    rows = [row for batch in loader for row in batch["inputs"].tolist() + batch["labels"].tolist()]
    return {c for row in rows for c in tok.decode(row)}


def test_windows_never_mix_splits_and_each_loader_serves_its_own(corpus):
    out, chars = corpus
    assert [len(chars[s]) for s in SPLITS] == [26, 10, 4]
    assert set.union(*chars.values()) == {chr(0x100 + i) for i in range(40)}
    assert not (chars["train"] & chars["val"] or chars["train"] & chars["test"] or chars["val"] & chars["test"])
    dm = TextDataModule(out, seq_len=SEQ, batch_size=4, seed=0)
    dm.setup()
    tok = load_tokenizer(out)
    assert seen_chars(dm.val_dataloader(), tok) - {"\n"} == chars["val"]
    assert seen_chars(dm.test_dataloader(), tok) - {"\n"} == chars["test"]
    assert seen_chars(dm.train_dataloader(), tok) - {"\n"} <= chars["train"]


def test_items_are_shifted_windows_and_val_tiles_in_order(corpus):
    out, _ = corpus
    dm = TextDataModule(out, seq_len=SEQ, batch_size=3)
    dm.setup()
    item = dm.train_set[5]
    assert item["inputs"].dtype == torch.long and item["inputs"].shape == (SEQ,)
    assert torch.equal(item["inputs"][1:], item["labels"][:-1])
    val = np.fromfile(out / "val.bin", dtype=np.uint16)
    inputs = torch.cat([b["inputs"] for b in dm.val_dataloader()]).flatten()
    labels = torch.cat([b["labels"] for b in dm.val_dataloader()]).flatten()
    n = (len(val) - 1) // SEQ * SEQ
    assert torch.equal(inputs, torch.from_numpy(val[:n].astype(np.int64)))
    assert torch.equal(labels, torch.from_numpy(val[1:n + 1].astype(np.int64)))
    assert dm.vocab_size == 41 and dm.seq_len == SEQ


def test_train_windows_are_seeded(corpus):
    out, _ = corpus

    def first_epoch(seed):
        dm = TextDataModule(out, seq_len=SEQ, batch_size=4, seed=seed)
        dm.setup()
        return torch.cat([b["inputs"] for b in dm.train_dataloader()])

    a = first_epoch(0)
    assert len(a) == 416 // SEQ // 4 * 4  # about one pass over the 416 train tokens
    assert torch.equal(a, first_epoch(0)) and not torch.equal(a, first_epoch(1))


def test_dataset_pickles_without_the_shard(corpus):
    out, _ = corpus
    dm = TextDataModule(out, seq_len=SEQ, batch_size=4)
    dm.setup()
    dm.train_set[0]  # opens the memory map
    copy = pickle.loads(pickle.dumps(dm.train_set))
    assert copy._tokens is None and torch.equal(copy[3]["labels"], dm.train_set[3]["labels"])


def test_seq_len_longer_than_val_shard(corpus):
    out, _ = corpus
    with pytest.raises(ValueError, match=r"val.bin holds 160 tokens, fewer than one window of seq_len \+ 1 = 161"):
        TextDataModule(out, seq_len=160, batch_size=1)


def test_tokenizer_mismatch(corpus, tmp_path):
    out, _ = corpus
    (tmp_path / "other.txt").write_text("something else entirely\n" * 20)
    prepare([tmp_path / "other.txt"], tmp_path / "other", "char")
    TextDataModule(out, seq_len=SEQ, batch_size=1, tokenizer_path=out)  # its own tokenizer is fine
    with pytest.raises(ValueError, match="was encoded with another tokenizer"):
        TextDataModule(out, seq_len=SEQ, batch_size=1, tokenizer_path=tmp_path / "other" / "tokenizer.json")


def test_missing_or_truncated_shards(corpus, tmp_path):
    out, _ = corpus
    with pytest.raises(FileNotFoundError, match="meta.json: not found"):
        TextDataModule(tmp_path / "nothing", seq_len=SEQ, batch_size=1)
    with open(out / "train.bin", "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataFormatError, match=r"train.bin: holds 100 bytes, but .* promises 416 uint16"):
        TextDataModule(out, seq_len=SEQ, batch_size=1)
    assert json.loads((out / "meta.json").read_text())["tokens"]["train"] == 416
