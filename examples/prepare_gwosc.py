"""Prepare GWOSC strain files for an offline bilby_pipe run with ``sampler = dingo`` (e.g. examples/GW170104.ini).

    python examples/prepare_gwosc.py DATA [DATA ...] --trigger-time GPS --outdir FOLDER [--model PATH]

DATA are GWOSC HDF5 strain files or folders holding them (examples/real_event.py says how to get them).
FOLDER receives, for the model's detectors (default model: H1 and L1):

- ``H1_strain.gwf``, ...: the strain unchanged, as frame files with channel ``H1:GWOSC-STRAIN``, which
  bilby_pipe's data-dict reads (bilby_pipe crops and resamples them itself);
- ``H1_psd.txt``, ...: the PSD by median Welch over the off-source data before *and* after the analysis
  segment (bilby_dingo.data.gwosc; bilby_pipe on its own would use only the data before it, 12 s of a
  32 s file), for bilby_pipe's psd-dict;
- ``distance_marginalization_lookup.npz``: bilby's distance-marginalisation table for the default
  model's prior, shipped with bilby_dingo (bilby_pipe would spend ~3 minutes building it).

It prints the ini lines that point to them. For GW170104 with the files in ../shared/gwosc:

    python examples/prepare_gwosc.py ../shared/gwosc --trigger-time 1167559936.6 --outdir GW170104_data
    bilby_pipe examples/GW170104.ini --local

The folder is the user's: keep it out of version control.
"""

import argparse
import os

import bilby_dingo
from bilby_dingo.data import (
    FRAME_CHANNEL,
    DataSettings,
    interferometers_from_strain,
    read_gwosc_strain,
    write_frame_files,
    write_psd_files,
)
from bilby_dingo.models import DEFAULT_MODEL_FILE, default_distance_lookup_table
from bilby_dingo.network.model_file import read_model_file


def prepare(data, trigger_time, outdir, model_path=None, psd_off_source="both"):
    """Write the frame, PSD (and for the default model, distance-table) files; return the ini lines."""
    model_path = model_path or bilby_dingo.default_model()
    metadata = read_model_file(model_path)["metadata"]
    settings = DataSettings.from_model_metadata(metadata, psd_off_source=psd_off_source)
    strain = read_gwosc_strain(data, trigger_time, detectors=list(metadata["detectors"]))
    frames = write_frame_files(strain, outdir)
    psds = write_psd_files(interferometers_from_strain(strain, trigger_time, settings), outdir)
    lines = [
        "data-dict = {" + ", ".join(f"{name}: {path}" for name, path in frames.items()) + "}",
        "channel-dict = {" + ", ".join(f"{name}: {FRAME_CHANNEL}" for name in frames) + "}",
        "psd-dict = {" + ", ".join(f"{name}: {path}" for name, path in psds.items()) + "}",
    ]
    if os.path.abspath(model_path) == os.path.abspath(DEFAULT_MODEL_FILE):
        table = default_distance_lookup_table(os.path.join(outdir, "distance_marginalization_lookup.npz"))
        lines.append(f"distance-marginalization-lookup-table = {table}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="GWOSC HDF5 strain files or folders holding them")
    parser.add_argument("--trigger-time", type=float, required=True, help="GPS time of the event")
    parser.add_argument("--outdir", required=True, help="folder for the frame, PSD and distance-table files")
    parser.add_argument("--model", default=None, help="a model file (default: the model shipped with bilby_dingo)")
    parser.add_argument("--psd-off-source", choices=["both", "before"], default="both")
    args = parser.parse_args()
    lines = prepare(args.data, args.trigger_time, args.outdir, args.model, args.psd_off_source)
    print(f"Wrote {args.outdir}/. Lines for the bilby_pipe ini (examples/GW170104.ini has them for GW170104_data/):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
