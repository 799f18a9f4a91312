"""Waveform polarisations from bilby's WaveformGenerator and lalsuite, generated in parallel.

Polarisations are generated once for the intrinsic parameters at a reference distance and stored as
complex64 on the bins inside the analysis band; extrinsic parameters (sky position, polarisation
angle, distance, time) are applied later, per batch.
"""

import multiprocessing
from dataclasses import dataclass, fields

import bilby
import numpy as np

from ..errors import WaveformError

REFERENCE_DISTANCE = 100.0  # Mpc; polarisations scale as 1 / luminosity_distance


def band_mask(frequencies, minimum_frequency, maximum_frequency):
    """bilby's frequency mask: minimum ≤ f ≤ maximum (as ``Interferometer.frequency_mask``)."""
    frequencies = np.asarray(frequencies)
    return (frequencies >= minimum_frequency) & (frequencies <= maximum_frequency)


@dataclass(frozen=True)
class WaveformSettings:
    """What fixes the frequency grid and the waveform model (bilby_pipe's names)."""

    duration: float
    sampling_frequency: float
    minimum_frequency: float
    maximum_frequency: float
    reference_frequency: float
    waveform_approximant: str
    frequency_domain_source_model: str = "lal_binary_black_hole"

    @classmethod
    def from_mapping(cls, mapping):
        """The settings from any mapping with these keys: a training config's dict, a model's metadata."""
        return cls(**{field.name: mapping[field.name] for field in fields(cls)})

    def full_frequencies(self):
        """bilby's frequency array for this duration and sampling frequency."""
        return bilby.core.utils.create_frequency_series(self.sampling_frequency, self.duration)

    def band_mask(self):
        """bilby's frequency mask on this grid."""
        return band_mask(self.full_frequencies(), self.minimum_frequency, self.maximum_frequency)

    def frequencies(self):
        """The frequencies of the stored bins, shape (n_bins,)."""
        return self.full_frequencies()[self.band_mask()]

    def source_model(self):
        try:
            return getattr(bilby.gw.source, self.frequency_domain_source_model)
        except AttributeError:
            raise WaveformError(
                f"frequency-domain-source-model '{self.frequency_domain_source_model}' is not a function of "
                f"bilby.gw.source (e.g. lal_binary_black_hole, lal_binary_neutron_star)."
            ) from None

    def waveform_generator(self):
        return bilby.gw.WaveformGenerator(
            duration=self.duration,
            sampling_frequency=self.sampling_frequency,
            frequency_domain_source_model=self.source_model(),
            parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
            waveform_arguments=dict(
                waveform_approximant=self.waveform_approximant,
                reference_frequency=self.reference_frequency,
                minimum_frequency=self.minimum_frequency,
                maximum_frequency=self.maximum_frequency,
            ),
        )


_worker = {}


def _initialise_worker(settings):
    _worker["generator"] = settings.waveform_generator()
    _worker["mask"] = settings.band_mask()


def _polarisations_of_rows(parameter_rows):
    generator, mask = _worker["generator"], _worker["mask"]
    plus = np.empty((len(parameter_rows), np.count_nonzero(mask)), dtype=np.complex64)
    cross = np.empty_like(plus)
    for i, parameters in enumerate(parameter_rows):
        parameters = dict(parameters, luminosity_distance=REFERENCE_DISTANCE)
        try:
            polarisations = generator.frequency_domain_strain(parameters)
        except Exception as error:
            raise WaveformError(f"The waveform model failed for {parameters}: {error}") from error
        if polarisations is None:
            raise WaveformError(f"The waveform model returned nothing for {parameters}.")
        plus[i] = polarisations["plus"][mask]
        cross[i] = polarisations["cross"][mask]
    return plus, cross


def generate_polarisations(settings, parameters, num_processes=1, chunk_size=64, progress=None):
    """h+ and h× at :data:`REFERENCE_DISTANCE` for each sample, on the band's bins.

    Parameters
    ----------
    settings: WaveformSettings
    parameters: dict[str, numpy.ndarray]
        Intrinsic parameters (extra keys are ignored by the source model), each of shape (n,).
    num_processes: int
    progress: callable or None
        Called with the number of waveforms finished after each chunk.

    Returns
    -------
    plus, cross: numpy.ndarray, shape (n, n_bins), complex64
    """
    keys = list(parameters)
    n = len(parameters[keys[0]])
    rows = [{key: float(parameters[key][i]) for key in keys} for i in range(n)]
    chunks = [rows[i:i + chunk_size] for i in range(0, n, chunk_size)]
    outputs = []
    if num_processes > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(num_processes, initializer=_initialise_worker, initargs=(settings,)) as pool:
            for output in pool.imap(_polarisations_of_rows, chunks):
                outputs.append(output)
                if progress:
                    progress(len(output[0]))
    else:
        _initialise_worker(settings)
        for chunk in chunks:
            outputs.append(_polarisations_of_rows(chunk))
            if progress:
                progress(len(chunk))
    return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])
