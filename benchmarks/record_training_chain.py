"""Write into a continued model file the whole training record of the files it was continued from.

    python benchmarks/record_training_chain.py MODEL PARENT [GRANDPARENT ...] --out OUT

For models trained before the trainer nested these records itself (each file then recorded only a
summary of its initial model: path, epochs, best validation loss). Each PARENT must be the file its child
was started from: its epochs and best validation loss must equal the child's summary of it (and its
sha256 the recorded one, where one was recorded), else nothing is written. The weights are copied
unchanged; only ``training.initial_model`` gains the parent's ``sha256`` and ``training`` record, in the
form the trainer now writes (``bilby_dingo.training.trainer.initial_model_record``).
"""

import argparse
import math

from bilby_dingo.cli import training_lines
from bilby_dingo.network.model_file import atomic_torch_save, read_model_file
from bilby_dingo.training.trainer import initial_model_record


def check_parent(child_path, summary, parent_path, record):
    for key in ["epochs_trained", "best_validation_loss"]:
        ours, theirs = summary.get(key), record["training"].get(key)
        same = ours == theirs or (isinstance(ours, float) and isinstance(theirs, float) and math.isclose(ours, theirs))
        if not same:
            raise SystemExit(f"{parent_path} is not the file {child_path} was continued from: {key} is {theirs}, "
                             f"the child recorded {ours}. Give the parents in order, newest first.")
    if summary.get("sha256") and summary["sha256"] != record["sha256"]:
        raise SystemExit(f"{parent_path} is not the file {child_path} was continued from (sha256 differs).")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("parents", nargs="+", help="The files it was continued from, newest first.")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    paths = [args.model] + args.parents
    payloads = [read_model_file(path) for path in paths]
    # From the oldest parent up: each child's summary of its parent becomes the parent's full record.
    for child in range(len(paths) - 2, -1, -1):
        summary = payloads[child]["metadata"]["training"].get("initial_model")
        if not summary:
            raise SystemExit(f"{paths[child]} records no initial model: it was trained from scratch.")
        record = initial_model_record(paths[child + 1], payloads[child + 1]["metadata"])
        check_parent(paths[child], summary, paths[child + 1], record)
        record["path"] = summary["path"]  # where the training read it, as it recorded
        payloads[child]["metadata"]["training"]["initial_model"] = record
    atomic_torch_save(payloads[0], args.out)
    print("\n".join(training_lines(read_model_file(args.out)["metadata"]["training"])))  # as bilby_dingo_info


if __name__ == "__main__":
    main()
