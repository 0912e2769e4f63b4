"""The harness's own command line with our model registered (``lm_eval`` alone cannot find it):

    python -m attractor.evaluation.lm_harness_cli --model attractor \
        --model_args pretrained=outputs/RUN/checkpoints/best.ckpt,mode=none --tasks lambada_openai
"""
from lm_eval.__main__ import cli_evaluate

import attractor.evaluation.lm_harness  # noqa: F401 - registers the model as "attractor"

if __name__ == "__main__":
    cli_evaluate()
