"""Char and byte-level BPE tokenizers: exact round trips, save/load, reuse from a Hugging Face folder."""
import json

import pytest

from attractor.data.text.tokenizer import BPETokenizer, CharTokenizer, UnknownCharacterError, load_tokenizer

ODD_TEXT = ("Crème brûlée, naïve café — 🎉🙂👩‍👩‍👧 e\u0301 中文テキスト"
            "\r\n\ttabs  and\x00nul\n\n")
CORPUS = ["the quick brown fox jumps over the lazy dog\n" * 20, "Ünïcödé ṫëẋṫ\n" * 5]


def test_char_round_trip_and_vocab_from_corpus():
    tok = CharTokenizer.train(["hello\n", "world 🎉"])
    assert tok.vocab_size == len(set("hello\nworld 🎉"))
    ids = tok.encode("hello world 🎉\n")
    assert ids.min() >= 0 and ids.max() < tok.vocab_size
    assert tok.decode(ids) == "hello world 🎉\n"
    assert tok.encode("").size == 0


def test_char_unknown_character_names_line():
    tok = CharTokenizer.train(["ab\n"])
    with pytest.raises(UnknownCharacterError) as e:
        tok.encode("ab\nab\naZ\n")
    assert (e.value.char, e.value.line) == ("Z", 3)


def test_char_save_load(tmp_path):
    tok = CharTokenizer.train([ODD_TEXT])
    tok.save(tmp_path / "tokenizer.json")
    back = load_tokenizer(tmp_path)
    assert isinstance(back, CharTokenizer) and back.fingerprint == tok.fingerprint
    assert back.decode(back.encode(ODD_TEXT)) == ODD_TEXT


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(CORPUS, vocab_size=300)


def test_bpe_round_trips_any_utf8(bpe):
    assert bpe.vocab_size == 300
    for text in [ODD_TEXT, " leading space", "trailing  \n", "".join(chr(c) for c in range(32, 3000, 7)), ""]:
        assert bpe.decode(bpe.encode(text)) == text
    assert len(bpe.encode("the quick brown fox")) < len("the quick brown fox")  # merges were learned


def test_bpe_save_load_and_hf_folder(tmp_path, bpe):
    bpe.save(tmp_path / "saved.json")
    assert load_tokenizer(tmp_path / "saved.json").fingerprint == bpe.fingerprint
    model = tmp_path / "hf_model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    bpe.save(model / "tokenizer.json")
    loaded = load_tokenizer(model)
    assert isinstance(loaded, BPETokenizer)
    assert loaded.encode(ODD_TEXT).tolist() == bpe.encode(ODD_TEXT).tolist()


def test_bpe_vocab_too_small():
    with pytest.raises(ValueError, match="vocab_size >= 256"):
        BPETokenizer.train(CORPUS, vocab_size=100)


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"kind": "words"}')
    with pytest.raises(ValueError, match="neither a char tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        load_tokenizer(tmp_path)
