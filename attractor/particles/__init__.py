"""K candidate answers (particles) per problem: their energies, Gibbs weights and the selectors that
pick one answer, with the figure of energies over right and wrong particles.

Below both decoders: LM decoding (``attractor.decoding``: particles are sampled trajectories) and
puzzle test-time scaling (``attractor.evaluation.scaling``: particles are equilibria from K initial
states). Imports no model, task or evaluation code; the statistics of a comparison (paired tests,
AUROC, Wilson intervals) are ``attractor.stats``.
"""
