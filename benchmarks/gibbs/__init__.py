"""The Gibbs-decoding studies on the synthetic arithmetic task, with a char-level LM of ours: the
corpus and held-out problems (``corpus``), decoding a checkpoint and the per-K paired table
(``evaluate``), the judged study's sizes (``presets``) and its dev-only choices and tests
(``study``). Run by ``benchmarks/synthetic_decoding.py`` and ``benchmarks/gibbs_synthetic.py``; not
part of the package."""
