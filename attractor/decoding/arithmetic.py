"""Synthetic multi-step arithmetic problems with worked solutions ending in ``#### N``.

A task small enough for a character-level model trained on CPU in minutes, yet with several steps
that can each go wrong, so that sampling K trajectories and voting has something to fix.
Example (2 steps): ``Q: 23+45-12`` -> ``23+45=68. 68-12=56. #### 56``.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
from dataclasses import dataclass

from attractor.decoding.datasets import Problem, PromptTemplate

TEMPLATE = PromptTemplate(shot="Q: {question}\nA: {solution}\n", query="Q: {question}\nA:")


@dataclass(frozen=True)
class ArithmeticConfig:
    """What the generator draws."""

    steps: int = 2
    """Number of operations, each shown as its own worked step."""
    max_value: int = 99
    """Operands are drawn from [0, max_value]."""
    ops: str = "+-"
    """Operators to draw from; any of ``+``, ``-``, ``*``. Subtraction never goes below zero."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"arithmetic.steps must be >= 1, got {self.steps}")
        if self.max_value < 1:
            raise ValueError(f"arithmetic.max_value must be >= 1, got {self.max_value}")
        if not self.ops or set(self.ops) - set("+-*"):
            raise ValueError(f"arithmetic.ops must be a non-empty string over '+-*', got {self.ops!r}")


def make_problem(rng: random.Random, cfg: ArithmeticConfig, problem_id: str) -> Problem:
    """One problem: a left-to-right chain of operations (bracketed where precedence would differ)
    and its step-by-step solution."""
    value = rng.randint(0, cfg.max_value)
    question, steps = str(value), []
    for _ in range(cfg.steps):
        op = rng.choice(cfg.ops)
        operand = rng.randint(0, min(value, cfg.max_value) if op == "-" else cfg.max_value)
        result = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
        steps.append(f"{value}{op}{operand}={result}.")
        needs_brackets = op == "*" and any(c in question for c in "+-")
        question = f"({question}){op}{operand}" if needs_brackets else f"{question}{op}{operand}"
        value = result
    return Problem(problem_id, question, str(value), " ".join(steps) + f" #### {value}")


def generate_problems(n: int, cfg: ArithmeticConfig = ArithmeticConfig(), seed: int = 0) -> list[Problem]:
    """``n`` distinct problems drawn with ``seed`` (same seed, same list)."""
    rng, seen, problems = random.Random(seed), set(), []
    for _ in range(100 * n + 100):
        if len(problems) == n:
            return problems
        p = make_problem(rng, cfg, f"arith-{seed}-{len(problems)}")
        if p.question not in seen:
            seen.add(p.question)
            problems.append(p)
    raise ValueError(f"arithmetic: could not draw {n} distinct problems from {cfg}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arith-steps``, ``--arith-max-value``, ``--arith-ops``: the fields of an ArithmeticConfig."""
    for f in dataclasses.fields(ArithmeticConfig):
        parser.add_argument(f"--arith-{f.name.replace('_', '-')}", type=type(f.default), default=f.default)


def from_arguments(args: argparse.Namespace) -> ArithmeticConfig:
    """The ArithmeticConfig of the options :func:`add_arguments` added."""
    return ArithmeticConfig(**{f.name: getattr(args, f"arith_{f.name}") for f in dataclasses.fields(ArithmeticConfig)})
