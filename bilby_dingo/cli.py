"""Command-line tools: ``bilby_dingo_train`` and ``bilby_dingo_info`` (``bilby_dingo_pp`` and
``bilby_dingo_merge`` live with their steps: validation/pp.py, importance_sampling/merge.py)."""

import argparse
import json
import logging
import sys

import numpy as np


def _add_version(parser):
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def _setup_logging():
    import bilby

    bilby.core.utils.setup_logger(log_level="INFO")


def train_main(argv=None):
    from .training.config import ConfigError, TrainingConfig, keys_help

    parser = argparse.ArgumentParser(
        prog="bilby_dingo_train",
        description="Train a DINGO posterior network q(θ | d, S_n) from a bilby_pipe-style config file.",
        epilog=keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="the config file (key = value lines)")
    parser.add_argument("--outdir", default=None, help="output directory (overrides the config's outdir)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in the output directory")
    _add_version(parser)
    args = parser.parse_args(argv)
    _setup_logging()
    try:
        config = TrainingConfig.from_file(args.config)
    except ConfigError as error:
        parser.exit(2, f"bilby_dingo_train: error: {error}\n")
    from .training.trainer import Trainer

    trainer = Trainer(config, outdir=args.outdir, resume=args.resume)
    trainer.prepare()
    trainer.train()
    logging.getLogger("bilby").info(f"Best model: {trainer.paths['model']}")
    return 0


def training_lines(training):
    """One line per training stage, newest first: a model continued from another shows where it came from."""
    from .training.trainer import training_chain

    lines = []
    for number, stage in enumerate(training_chain(training) or [training]):
        config = stage.get("config", {})
        label = "trained             : " if number == 0 else "  continued from    : "
        lines.append(f"  {label}{stage.get('epochs_trained')} epochs, best validation loss "
                     f"{stage.get('best_validation_loss', np.nan):.4f}, on {stage.get('hardware', stage.get('device'))} "
                     f"({config.get('num_waveforms')} waveforms, batch {config.get('batch_size')})")
    return lines


def _summary(metadata):
    training = metadata.get("training", {})
    lines = [
        f"bilby_dingo model (bilby_dingo {metadata.get('bilby_dingo_version')})",
        f"  detectors           : {', '.join(metadata['detectors'])}",
        f"  data                : {metadata['duration']:g} s at {metadata['sampling_frequency']:g} Hz, "
        f"band {metadata['minimum_frequency']:g}-{metadata['maximum_frequency']:g} Hz",
        f"  waveform            : {metadata['waveform_approximant']}, f_ref = {metadata['reference_frequency']:g} Hz",
        f"  inference parameters: {', '.join(metadata['inference_parameters'])}",
        f"  PSD family          : {', '.join(metadata['psd_family']['entries'])}",
        f"  GNPE                : {metadata['gnpe'] or 'no'}",
        *training_lines(training),
        "  priors:",
    ]
    lines += [f"    {key} = {value}" for key, value in metadata["priors"].items()]
    return "\n".join(lines)


def info_main(argv=None):
    from .network.model_file import ModelFileError, read_model_file

    parser = argparse.ArgumentParser(prog="bilby_dingo_info", description="Describe a bilby_dingo model file.")
    parser.add_argument("model", help="the model file")
    parser.add_argument("--json", action="store_true", help="print the model's metadata as JSON")
    _add_version(parser)
    args = parser.parse_args(argv)
    try:
        metadata = read_model_file(args.model)["metadata"]
    except ModelFileError as error:
        parser.exit(2, f"bilby_dingo_info: error: {error}\n")
    if args.json:
        json.dump(metadata, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(_summary(metadata))
    return 0
