"""Gibbs-basin decoding: sample K trajectories (particles), give each an energy, weight them by a
Gibbs measure and return the answer whose basin carries the most weight; greedy, majority vote and
best-of-N are computed on the same particles for a paired comparison."""
from attractor.decoding.answers import extract_answer, extract_flexible, extract_strict, normalize_number
from attractor.decoding.config import DecodeConfig, load_config
from attractor.decoding.datasets import Problem, PromptTemplate, build_prompt, load_dataset, load_gsm8k, load_svamp
from attractor.decoding.energies import ENERGIES, compute_energies, get_energy
from attractor.decoding.particle import Particle
from attractor.decoding.samplers import HFSampler, NativeSampler, Sampler, SamplingParams
from attractor.decoding.selection import lowest_energy, majority_vote, select_all, weighted_vote
from attractor.decoding.weights import WEIGHTINGS, WeightSpec, boltzmann, inverse_power, uniform

__all__ = [
    "ENERGIES", "WEIGHTINGS", "DecodeConfig", "HFSampler", "NativeSampler", "Particle", "Problem",
    "PromptTemplate", "Sampler", "SamplingParams", "WeightSpec", "boltzmann", "build_prompt",
    "compute_energies", "extract_answer", "extract_flexible", "extract_strict", "get_energy",
    "inverse_power", "load_config", "load_dataset", "load_gsm8k", "load_svamp", "lowest_energy",
    "majority_vote", "normalize_number", "select_all", "uniform", "weighted_vote",
]
