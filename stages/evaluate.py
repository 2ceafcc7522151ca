"""evaluate stage: the trained model and the baselines (copy-last, flow) on the test split -> metrics, plots, report.

Writes ``metrics/metrics.json`` (flat keys), ``metrics/per_step.csv`` and ``reports/<model>/``
(``index.html``, GIF pairs); see vfp.evaluation. Prints a 3-line summary.
"""
import sys

from vfp.evaluation import DEFAULT_METRICS, DEFAULT_PER_STEP, evaluate, summary_lines
from vfp.models.params import load_model_config
from vfp.stage import run_stage


def work(cfg, args):
    flat = evaluate(cfg, log=print)
    lines = summary_lines(flat, cfg.model)
    lines[-1] += f" -> {DEFAULT_METRICS}, {DEFAULT_PER_STEP}, reports/{cfg.model}/index.html"
    print("\n".join(lines))


def main(argv=None) -> int:
    return run_stage("evaluate", work, argv, load=load_model_config)


if __name__ == "__main__":
    sys.exit(main())
