"""Studies as configs and a report: the verdict rule, selection on validation, the report and claims
built from job directories as train.py writes them, and the study configs composing."""
import csv
import json

import pytest
import yaml

from attractor.compose import compose
from attractor.models import build_model
from attractor.studies import verdict
from attractor.studies.claims import build_claims
from attractor.studies.page import render
from attractor.studies.report import summarise
from attractor.studies.runs import read_study
from attractor.studies.spec import Comparison, Internalization, StudySpec, load_spec
from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class


def test_the_rule_reads_the_interval_after_the_evidence_qualifies():
    assert verdict.judge({1: 0.10, 2: 0.12, 3: 0.11}).verdict == verdict.HOLDS
    assert verdict.judge({1: -0.10, 2: -0.12, 3: -0.11}).verdict == verdict.FAILS
    assert verdict.judge({1: 0.10, 2: -0.12, 3: 0.02}).verdict == verdict.OPEN
    two = verdict.judge({1: 0.10, 2: 0.12})
    assert two.verdict == verdict.NONE and "fewer than 3" in two.why
    blocked = verdict.judge({1: 0.10, 2: 0.12, 3: 0.11}, ["attractor did not converge"])
    assert blocked.verdict == verdict.NONE and blocked.why == "attractor did not converge"
    assert verdict.combine([verdict.HOLDS, verdict.OPEN]) == verdict.OPEN
    assert verdict.combine([verdict.HOLDS, verdict.FAILS, verdict.OPEN]) == verdict.FAILS
    assert verdict.combine([verdict.HOLDS, verdict.NONE]) == verdict.NONE
    assert verdict.across_sizes({"25k": "holds", "0.2M": "inconclusive"}) == "holds at 25k; inconclusive at 0.2M"
    assert verdict.across_sizes({"25k": "holds", "0.2M": "holds"}) == "holds (at 25k, 0.2M)"


def _job(root, arm, lr, init, seed, val, test=None, converged=None, modes=None, steps=100):
    """A job directory as train.py leaves it: .hydra/config.yaml, metrics.json, the CSV log, eval.json."""
    d = root / f"{arm}-lr{lr}-{init}-s{seed}"
    (d / ".hydra").mkdir(parents=True)
    (d / "logs").mkdir()
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"arm": f"toy/{arm}", "seed": seed, "optim": {"lr": lr}, "model": {"init": init}}))
    (d / "metrics.json").write_text(json.dumps({"steps": steps, "parameters": 1000, "train_cpu_time_s": 10.0}))
    rows = []
    for k, step in enumerate((49, 99)):
        rows.append({"step": step, "perf/train_time_s": 5.0 * (k + 1), "train/solve/iterations_mean": 4.0 if converged else ""})
        row = {"step": step, "val/loss": val + 0.5 * (1 - k), "val/score": -(val + 0.5 * (1 - k))}
        row |= {f"val/{m}/loss": v + 0.5 * (1 - k) for m, v in (modes or {}).items()}
        if converged is not None:
            row["val/solve/converged_frac"] = converged
        rows.append(row)
    keys = sorted({k for r in rows for k in r})
    with open(d / "logs" / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(rows)
    if test is not None:
        solve = {"converged_frac": converged} if converged is not None else None
        sweep = [{"mode": "solver", "loss": test, **({"solve": solve} if solve else {})}]
        sweep += [{"mode": m, "loss": test + (v - val)} for m, v in (modes or {}).items()]
        (d / "eval.json").write_text(json.dumps({"sweep": sweep}))


SPEC = StudySpec(name="toy", title="t", question="q", size="1k", metric="loss", arms=["attractor", "transformer"],
                 grid={"optim.lr": [0.001, 0.01]}, comparisons=[Comparison("attractor", "transformer")],
                 internalization=[Internalization(size="1k, 1+1", attractor="attractor", control="transformer",
                                                  removed="none", exit="iters=1")])


def _study(tmp_path, attractor_converged=1.0, attractor_lrs=(0.001, 0.01)):
    # Screening on seed 0: the attractor's lr 0.01 trial is better on validation but did not converge.
    _job(tmp_path, "attractor", 0.001, "scaled", 0, val=1.50, converged=1.0)
    if 0.01 in attractor_lrs:
        _job(tmp_path, "attractor", 0.01, "scaled", 0, val=1.20, converged=0.5)
    _job(tmp_path, "transformer", 0.001, "gpt2", 0, val=1.60)
    _job(tmp_path, "transformer", 0.01, "gpt2", 0, val=1.55)
    for seed, (a, t) in {1: (1.40, 1.50), 2: (1.41, 1.52), 3: (1.39, 1.49)}.items():
        _job(tmp_path, "attractor", 0.001, "scaled", seed, val=a, test=a, converged=attractor_converged,
             modes={"none": a + 0.05})
        _job(tmp_path, "transformer", 0.01, "gpt2", seed, val=t, test=t, modes={"iters=1": t + 0.30})
        _job(tmp_path, "transformer", 0.001, "gpt2", seed, val=9.0, test=9.0, modes={"iters=1": 9.5})  # not chosen: ignored
    return summarise(SPEC, read_study(tmp_path))


def test_selection_on_validation_requires_convergence_and_the_report_judges_the_chosen_runs(tmp_path):
    s = _study(tmp_path)
    assert s["screening"]["attractor"]["chosen"]["settings"] == {"optim.lr": 0.001}  # 0.01 was better but unconverged
    assert s["screening"]["transformer"]["chosen"]["settings"] == {"optim.lr": 0.01}
    assert s["arms"]["transformer"]["test"]["values"] == pytest.approx([1.50, 1.52, 1.49])
    (c,) = s["comparisons"]
    assert c["verdict"] == verdict.HOLDS and c["differences"] == pytest.approx([0.10, 0.11, 0.10])
    (i,) = s["internalization"]
    assert i["verdict"] == verdict.HOLDS  # solver removed costs 0.05, the early exit 0.30
    assert i["attractor_cost"] == pytest.approx({1: 0.05, 2: 0.05, 3: 0.05})
    assert i["over_training_val"][-1]["control"] == pytest.approx(0.30)
    assert s["claims"] == {"beats_baselines": {"1k": verdict.HOLDS}, "internalization": {"1k, 1+1": verdict.HOLDS}}
    page = render(s, {"command": "c", "commit": "x", "machine": "m", "date": "d"})
    assert "| attractor | optim.lr=0.01 | 1.200 (99) | 0.500 |" in page and "**holds**" in page


def test_no_verdict_from_an_attractor_that_did_not_converge_or_from_unequal_tuning(tmp_path):
    s = _study(tmp_path / "a", attractor_converged=0.8)
    assert s["comparisons"][0]["verdict"] == verdict.NONE and "did not converge" in s["comparisons"][0]["why"]
    assert s["internalization"][0]["verdict"] == verdict.NONE
    s = _study(tmp_path / "b", attractor_lrs=(0.001,))
    assert s["comparisons"][0]["verdict"] == verdict.NONE
    assert "unequal screening: attractor 1 trials, transformer 2 trials" in s["comparisons"][0]["why"]


def test_claims_list_sizes_side_by_side(tmp_path):
    for name, v in (("a", verdict.HOLDS), ("b", verdict.OPEN)):
        (tmp_path / f"study_{name}.json").write_text(json.dumps({
            "study": name, "claims": {"beats_baselines": {f"size-{name}": v}},
            "comparisons": [{"model": "attractor", "baseline": "transformer", "verdict": v, "why": "w"}],
            "internalization": []}))
    text = build_claims(tmp_path).read_text()
    assert "holds at size-a; inconclusive at size-b" in text
    assert "no verdict: no study under the rule tests it yet" in text


def test_a_bad_spec_names_its_file_and_field(tmp_path):
    (tmp_path / "study" / "bad").mkdir(parents=True)
    (tmp_path / "study" / "bad" / "report.yaml").write_text("title: t\nquestion: q\nsize: s\nmetric: loss\narms: [x]\nbogus: 1\n")
    with pytest.raises(Exception, match="report.yaml.bogus"):
        load_spec("bad", tmp_path)
    (tmp_path / "study" / "bad" / "report.yaml").write_text("title: t\nquestion: q\nsize: s\nmetric: loss\narms: [x]\n")
    with pytest.raises(FileNotFoundError, match="arm 'x' has no config"):
        load_spec("bad", tmp_path)
    with pytest.raises(FileNotFoundError, match="no such study spec"):
        load_spec("missing", tmp_path)


@pytest.mark.parametrize("study", ["lm40", "internalization", "ladder32"])
def test_every_arm_of_a_study_composes_into_its_own_job_directory(study):
    """Each arm validates, names its job by arm, lr, init and seed (so a relaunched sweep finds it),
    resumes or skips by itself and scores the validation-chosen checkpoint; the arms a comparison
    pairs have equal parameters (within 2%)."""
    spec = load_spec(study)
    names, params = set(), {}
    for arm in spec.arms:
        cfg = compose([f"study={study}/{arm}", "seed=2"])
        run = validate_run(cfg, datamodule_class(cfg.task.name))
        assert run.ckpt_path == "auto" and run.eval_ckpt == "best" and run.raw["arm"] == f"{study}/{arm}"
        assert run.name == f"{study}/{arm}-lr{run.optim.lr}-{run.model.init}-s2"
        names.add(run.name)
        params[arm] = build_model(run.model).num_parameters()
    assert len(names) == len(spec.arms)
    for c in spec.comparisons:
        assert abs(params[c.model] / params[c.baseline] - 1) <= 0.02, params
    cfg = compose([f"study={study}/{spec.arms[0]}", "optim.lr=0.01"])
    assert validate_run(cfg, datamodule_class(cfg.task.name)).optim.lr == 0.01  # the grid's overrides win over a selection
