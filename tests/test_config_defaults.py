"""Each default lives in one place, its dataclass: the config files state only what they change (from
the dataclass, or from the option they extend), so they cannot drift from it, and every field is in
every composed config (attractor/compose.py)."""
import dataclasses

import pytest
import yaml

from attractor.compose import CONFIGS, GROUPS, compose, field_defaults
from attractor.config import from_mapping, to_plain
from attractor.decoding.config import DecodeConfig
from attractor.evaluation.scaling.config import ScalingConfig
from attractor.models import MODELS
from attractor.tasks.config import DebugConfig, LoggerConfig, OptimConfig, TrainConfig, TrainerConfig, validate_run

GROUP_FILES = sorted(p for group in [*GROUPS, "model"] for p in (CONFIGS / group).glob("*.yaml"))


def dataclass_of(path) -> type:
    """The dataclass a group file configures: its group's, or for a model the one its base names."""
    if path.parent.name != "model":
        return GROUPS[path.parent.name]
    (base,) = [d for d in yaml.safe_load(path.read_text())["defaults"] if str(d).startswith("base_")]
    return MODELS[base.removeprefix("base_")][0]


def restated(node: dict, defaults: dict, where: str) -> list[str]:
    """Keys of ``node`` whose value is the default (nested mappings of dataclass fields: recursed)."""
    found = []
    for key, value in node.items():
        if key in defaults and isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
            found += restated(value, defaults[key], f"{where}.{key}")
        elif key in defaults and value == defaults[key]:
            found.append(f"{where}.{key}: {value!r}")
    return found


def inherited(path) -> dict:
    """What a group file's defaults list gives it before its own values: its base (the dataclass's
    defaults) and the options it extends (``last_k`` extends ``anderson``)."""
    group, out = path.parent.name, {}
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults", []):
        if entry == "_self_":
            continue
        if str(entry).startswith("base"):
            out.update(field_defaults(dataclass_of(path)))
        else:
            out.update(to_plain(compose([f"+{group}={entry}"], config_name=None)[group]))
    return out


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_config_file_restates_a_default(path):
    node = yaml.safe_load(path.read_text()) or {}
    node.pop("defaults", None)
    found = restated(node, inherited(path), path.parent.name)
    assert not found, f"{path.relative_to(CONFIGS)} restates what its base ({dataclass_of(path).__name__}) or the " \
                      f"options it extends already give; delete: {found}"


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_dataclass_field_is_in_every_composed_option(path):
    """A field added to a dataclass reaches every option of its group with no file to edit (so
    ``group.field=value`` works without a ``+``)."""
    group = path.parent.name
    node = compose([f"+{group}={path.stem}"], config_name=None)[group]
    expected = {f.name for f in dataclasses.fields(dataclass_of(path)) if f.init} - {"solver"}
    assert expected <= set(node), f"{path.relative_to(CONFIGS)} lacks {sorted(expected - set(node))}: list its base"


def test_the_default_run_is_the_dataclass_defaults_and_its_named_recipe():
    """Every group of the default run is its dataclass's defaults, but for the model and solver it
    names (model=attractor_ref, solver=contractive: option files that state only what they change)."""
    run = validate_run(compose([]))
    assert (run.optim, run.trainer, run.logger, run.train) == (OptimConfig(), TrainerConfig(), LoggerConfig(), TrainConfig())
    assert (run.model.map, run.solver.jac_reg_weight) == ("gated_sublayers", 10.0)  # the named recipe, not the defaults
    assert from_mapping(DebugConfig, compose(["debug=tiny"]).debug, "debug") == DebugConfig()


def test_the_default_scaling_and_decoding_are_the_dataclass_defaults():
    scaling = compose([], config_name="eval").scaling
    # the default run draws a chosen subset in its equal-compute plot; every other option is the default
    assert from_mapping(ScalingConfig, scaling, "scaling") == ScalingConfig(plot_methods=list(scaling.plot_methods))
    decode = compose(["+decode=default"], config_name=None).decode
    assert from_mapping(DecodeConfig, decode, "decode") == DecodeConfig()


def test_models_without_a_solver_neither_validate_nor_keep_one():
    for name in ("transformer", "looped", "trm"):
        run = validate_run(compose([f"model={name}", "solver.tol=-1"]))  # a bad value no solve would read
        assert run.solver is None and "solver" not in run.raw
    with pytest.raises(ValueError, match="solver.tol"):
        validate_run(compose(["model=trm_deq", "solver.tol=-1"]))
