"""Studies as configs and a report: a study is configs/study/<study>/ (one file per arm, report.yaml), its
jobs are train.py sweeps, its page and the claims are rebuilt from the jobs' files (``python -m attractor.studies``)."""
