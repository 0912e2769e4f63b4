"""Gibbs-basin decoding of language models: sample K trajectories (particles), give each an energy,
weight them by a Gibbs measure and return the answer whose basin carries the most weight; greedy,
majority vote and best-of-N are computed on the same particles for a paired comparison. The
energies, weights and selectors themselves are ``attractor.particles``."""
from attractor.decoding.answers import extract_answer, extract_flexible, extract_strict, normalize_number
from attractor.decoding.config import DecodeConfig
from attractor.decoding.datasets import Problem, PromptTemplate, build_prompt, load_dataset, load_gsm8k, load_svamp
from attractor.decoding.energies import ENERGIES, compute_energies, get_energy
from attractor.decoding.particle import Particle
from attractor.decoding.samplers import HFSampler, NativeSampler, Sampler, SamplingParams

__all__ = [
    "ENERGIES", "DecodeConfig", "HFSampler", "NativeSampler", "Particle", "Problem", "PromptTemplate", "Sampler",
    "SamplingParams", "build_prompt", "compute_energies", "extract_answer", "extract_flexible", "extract_strict",
    "get_energy", "load_dataset", "load_gsm8k", "load_svamp", "normalize_number",
]
