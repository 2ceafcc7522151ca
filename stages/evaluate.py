"""evaluate stage: the trained model and the baselines (copy-last, flow) on the test split -> metrics, plots, report.

Writes the metrics file (flat keys), the per-step CSV and the report folder (``index.html``, GIF pairs);
see vfp.evaluation. Prints a 3-line summary. Every path defaults to :class:`vfp.runs.RunLayout`'s.
"""
import sys
from pathlib import Path

from vfp.evaluation import evaluate
from vfp.models.params import load_model_config
from vfp.results import summary_lines
from vfp.runs import METRICS_FILE, PER_STEP_FILE, RunLayout
from vfp.stage import run_stage


def add_arguments(parser):
    parser.add_argument("--split-dir", type=Path, default=Path("data/split"), help="folder with test.txt")
    parser.add_argument("--model-file", type=Path, default=None, help="default: models/<model>/model.pt")
    parser.add_argument("--logs", type=Path, default=None, help="training logs (default: models/<model>/logs)")
    parser.add_argument("--report", type=Path, default=None, help="report folder (default: reports/<model>)")
    parser.add_argument("--metrics", type=Path, default=METRICS_FILE, help="default: %(default)s")
    parser.add_argument("--per-step", type=Path, default=PER_STEP_FILE, help="default: %(default)s")


def work(cfg, args):
    report = args.report or RunLayout.for_model(cfg.model).report_dir
    flat = evaluate(cfg, model_path=args.model_file, split_dir=args.split_dir, metrics_path=args.metrics,
                    per_step_path=args.per_step, report_dir=report, logs_dir=args.logs, log=print)
    lines = summary_lines(flat, cfg.model)
    lines[-1] += f" -> {args.metrics}, {args.per_step}, {report / 'index.html'}"
    print("\n".join(lines))


def main(argv=None) -> int:
    return run_stage("evaluate", work, argv, add_arguments, load=load_model_config)


if __name__ == "__main__":
    sys.exit(main())
