"""Local harness tasks built from a prepared corpus's held-out split: what they hold, and that the
harness reads them offline."""
import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json  # noqa: E402

import pytest  # noqa: E402

from attractor.data.text import prepare_corpus  # noqa: E402
from attractor.data.text.shards import open_shard, read_meta  # noqa: E402
from attractor.data.text.tokenizer import load_tokenizer  # noqa: E402
from attractor.evaluation.lm_harness_tasks import build, passages, split_text  # noqa: E402


@pytest.fixture
def prepared(tmp_path):
    speeches = [f"Speaker {i % 7}:\nline one of speech number {i},\nthen a line of {'many ' * (i % 5)}words\n"
                f"and the end of speech {i} is {'here' if i % 3 else 'there'}.\n\n" for i in range(300)]
    (tmp_path / "play.txt").write_text("".join(speeches))
    return prepare_corpus([tmp_path / "play.txt"], tmp_path / "prepared", "char", chunk_bytes=400)


def test_split_text_is_the_split_the_shards_hold(prepared):
    meta = read_meta(prepared)
    tokens = open_shard(prepared, "test", meta)
    assert "".join(split_text(prepared)) == load_tokenizer(prepared).decode(tokens.tolist())
    assert len(split_text(prepared)) > 1  # several runs of chunks, each read on its own


def test_built_tasks_hold_whole_paragraphs_of_the_split(prepared, tmp_path):
    counts = build(prepared, tmp_path / "tasks", "play")
    paragraphs = passages(split_text(prepared))
    assert counts == {"play_last_word": len(paragraphs), "play_choice": len(paragraphs),
                      "play_rolling": len(paragraphs)}
    text = "".join(split_text(prepared))
    for line in (tmp_path / "tasks" / "play_last_word.jsonl").read_text().splitlines():
        doc = json.loads(line)["text"]
        assert doc in text and doc.rsplit(" ", 1)[1] in ("here", "there")
    for line, paragraph in zip((tmp_path / "tasks" / "play_choice.jsonl").read_text().splitlines(), paragraphs):
        doc = json.loads(line)
        assert doc["context"] + doc["choices"][doc["label"]] == paragraph
        assert len(set(doc["choices"])) == 4


def test_the_harness_reads_the_built_tasks_offline(prepared, tmp_path, monkeypatch):
    from lm_eval.tasks import TaskManager

    build(prepared, tmp_path / "tasks", "play", max_docs=5)
    monkeypatch.chdir(tmp_path)  # the YAMLs name their data by absolute paths
    loaded = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False).load(
        ["play_last_word", "play_choice", "play_rolling"])["tasks"]
    choice = loaded["play_choice"]
    docs = [json.loads(line) for line in (tmp_path / "tasks" / "play_choice.jsonl").read_text().splitlines()]
    assert list(choice.eval_docs) == docs
    assert choice.doc_to_choice(docs[0]) == docs[0]["choices"] and choice.doc_to_target(docs[0]) == docs[0]["label"]
    last = loaded["play_last_word"]
    doc = last.eval_docs[0]
    assert last.doc_to_text(doc) + last.doc_to_target(doc) == doc["text"]


def test_a_changed_source_file_is_refused(prepared, tmp_path):
    (tmp_path / "play.txt").write_text("another play\n")
    with pytest.raises(ValueError, match="changed since"):
        split_text(prepared)
