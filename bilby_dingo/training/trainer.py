"""The training loop: negative log-likelihood, Adam, a learning-rate schedule, validation each epoch,
best-model tracking, a checkpoint every epoch and exact resume.

Every epoch draws its batches, noise and extrinsic parameters from a generator seeded by
(seed, epoch), so a training resumed from the checkpoint of epoch k continues exactly as an
uninterrupted run would.
"""

import copy
import csv
import dataclasses
import logging
import os
import queue
import threading
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .._version import __version__
from ..network.embedding import svd_basis
from ..network.model_file import ModelFileError, atomic_torch_save, build_model, load_model, save_model
from ..simulation.noise import PSDFamily
from ..simulation.simulator import TrainingDataSimulator
from ..simulation.time_proxies import UniformTimeKernel
from ..simulation.torch_simulator import TorchTrainingDataSimulator
from ..utils import atomic_path, file_sha256, resolve_device
from .waveform_dataset import (
    generate_waveform_dataset,
    load_waveform_dataset,
    save_waveform_dataset,
    waveform_fingerprint,
)

logger = logging.getLogger(f"bilby.{__name__}")

VALIDATION_STREAM = 10**6  # generator index of the fixed validation noise, apart from every epoch
CAPTURE_STREAM = VALIDATION_STREAM + 2  # the batch a CUDA graph is captured on (changes no training draw)


def torch_generator_seed(seed, stream):
    """One 63-bit seed per (seed, stream) for the device's noise generator (torch takes a single integer)."""
    return int(np.random.SeedSequence([seed, stream, 7]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def initial_model_record(path, metadata):
    """What a model continued from ``path`` records about it: the file's hash and its whole training record.

    The record nests (a model continued from a continued model carries the chain back to the first fresh
    network), so :func:`training_chain` can add up what a shipped model cost to train.
    """
    training = metadata.get("training", {})
    return dict(path=os.path.abspath(path), sha256=file_sha256(path), epochs_trained=training.get("epochs_trained"),
                best_validation_loss=training.get("best_validation_loss"), device=training.get("device"),
                training=training)


def training_chain(training):
    """The training records of a model and of every model it continued from, newest first (as far back as
    the records go: files written before the chain was kept record only their initial model's summary)."""
    chain = []
    while training:
        chain.append(training)
        training = (training.get("initial_model") or {}).get("training")
    return chain


class Trainer:
    """Trains the posterior model of one config in ``outdir``.

    Files: ``LABEL_waveforms.npz`` (the training waveforms), ``LABEL_checkpoint.pt`` (every
    epoch), ``LABEL_model.pt`` (the best model so far), ``LABEL_history.csv`` and
    ``LABEL_loss.png``.
    """

    def __init__(self, config, outdir=None, resume=False):
        self.config = config
        self.outdir = outdir or config.outdir
        self.resume = resume
        self.device = resolve_device(config.device)
        self.priors = config.validate()
        self.inference_parameters = config.resolved_inference_parameters(self.priors)
        prefix = os.path.join(self.outdir, config.label)
        self.paths = dict(waveforms=f"{prefix}_waveforms.npz", checkpoint=f"{prefix}_checkpoint.pt",
                          model=f"{prefix}_model.pt", history=f"{prefix}_history.csv", plot=f"{prefix}_loss.png")
        self.history = []
        self.start_epoch = 1
        self.best_validation_loss = np.inf
        self.waveform_generation_time = 0.0
        self.initial_model_record = None
        self._graphed_step = None  # the training model's CUDA-graph step, captured at the first epoch

    # --- set-up ------------------------------------------------------------------------------------

    def prepare(self):
        config = self.config
        torch.manual_seed(config.seed)
        if self.device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            # Leave a core to the thread that simulates the next batch: measured on 2 cores, one torch
            # thread plus the simulation thread trains 1.7x faster than two torch threads plus it.
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        fingerprint = waveform_fingerprint(config)
        stored = load_waveform_dataset(self.paths["waveforms"], fingerprint)
        if stored is None:
            parameters, plus, cross, seconds = generate_waveform_dataset(config, self.priors)
            self.waveform_generation_time = seconds
            save_waveform_dataset(self.paths["waveforms"], fingerprint, parameters, plus, cross)
        else:
            parameters, plus, cross = stored
            logger.info(f"Reusing the waveforms in {self.paths['waveforms']}")
        settings = config.waveform_settings()
        self.psd_family = PSDFamily(config.psd_family, settings.frequencies(), config.psd_perturbation_sigma,
                                    config.psd_perturbation_nodes, config.psd_scale_range)
        kernel = None
        if config.gnpe_time_kernel is not None:
            kernel = UniformTimeKernel(config.gnpe_time_kernel, len(config.detectors))
        self.simulator = TrainingDataSimulator(
            settings, config.interferometers(), plus, cross, parameters, config.training_data_priors(self.priors),
            config.deltaT,
            config.reference_time, config.post_trigger_duration, self.psd_family, self.inference_parameters,
            gnpe_kernel=kernel)
        self.device_simulator = None
        if self.simulation_backend() == "torch":
            self.device_simulator = TorchTrainingDataSimulator(self.simulator, self.device)
        order = np.random.default_rng([config.seed, 2]).permutation(config.num_waveforms)
        num_validation = max(1, int(round(config.validation_fraction * config.num_waveforms)))
        self.validation_indices, self.train_indices = order[:num_validation], order[num_validation:]

        self.model = build_model(self.metadata(num_bins=len(settings.frequencies())))
        if config.initial_model:
            self._start_from_initial_model()
        else:
            self._initialise_model()
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.scheduler = self._make_scheduler()
        if self.resume:
            self._load_checkpoint()

    def _make_scheduler(self):
        if self.config.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.config.epochs)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=2)

    def set_epochs(self, epochs):
        """Set the number of epochs after :meth:`prepare`, before the first epoch (e.g. to fit a time budget).

        The cosine schedule anneals over the new number; the model file records it.
        """
        if self.history:
            raise ValueError("The number of epochs can only be set before training starts.")
        self.config = dataclasses.replace(self.config, epochs=int(epochs))
        self.scheduler = self._make_scheduler()

    def measure_throughput(self, num_batches=20, warm_up=3):
        """Training samples per second, simulation included, measured on a copy of the model (left untouched)."""
        model = copy.deepcopy(self.model)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.config.learning_rate)
        # A stream apart from every epoch's and the validation's, so the measurement changes no training draw.
        rng = np.random.default_rng([self.config.seed, VALIDATION_STREAM + 1])
        indices = rng.choice(self.train_indices, size=(num_batches + warm_up) * self.config.batch_size)
        model.train()
        step_function = self._step_function(model)
        count, start = 0, None
        for step, batch in enumerate(self._batches(indices, rng, VALIDATION_STREAM + 1)):
            if step == warm_up:
                if self.device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
            step_function(model, optimizer, batch)
            if step >= warm_up:
                count += len(batch["theta"])
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return count / (time.perf_counter() - start)

    def use_cuda_graph(self):
        """Whether full training batches run as a CUDA-graph replay (config ``cuda-graph``, CUDA only)."""
        return self.config.cuda_graph == "auto" and str(self.device).startswith("cuda")

    def _step_function(self, model):
        """:func:`training_step`, or a :class:`GraphedTrainingStep` of ``model`` where CUDA graphs are used.

        The graph is captured here, before any batch thread runs (a capture admits no other CUDA work), on a
        batch from its own stream; should the capture fail, training goes on eagerly.
        """
        if not self.use_cuda_graph() or len(self.train_indices) < self.config.batch_size:
            return training_step
        if model is self.model and self._graphed_step is not None:
            return self._graphed_step
        rng = np.random.default_rng([self.config.seed, CAPTURE_STREAM])
        indices = rng.choice(self.train_indices, size=self.config.batch_size)
        example = {key: value.to(self.device) for key, value in self._batch_simulator(rng, CAPTURE_STREAM)(indices).items()}
        try:
            graphed = GraphedTrainingStep(model, example)
        except Exception as error:  # a driver or op that cannot be captured: the eager step is the same step
            logger.warning(f"CUDA graph capture failed ({type(error).__name__}: {error}); training eagerly")
            self.config = dataclasses.replace(self.config, cuda_graph="off")
            return training_step
        if model is self.model:
            self._graphed_step = graphed
        return graphed

    def simulation_backend(self):
        """numpy or torch: the config's choice, auto resolved by the device."""
        if self.config.simulation_backend == "auto":
            return "numpy" if self.device == "cpu" else "torch"
        return self.config.simulation_backend

    # What must agree between this config and an initial model for its weights to mean the same here.
    INITIAL_MODEL_KEYS = ("detectors", "duration", "sampling_frequency", "minimum_frequency", "maximum_frequency",
                          "reference_frequency", "waveform_approximant", "frequency_domain_source_model",
                          "reference_time", "post_trigger_duration", "deltaT", "inference_parameters", "network",
                          "num_bins", "gnpe", "psd_family")

    def _start_from_initial_model(self):
        """Weights, standardisation and SVD basis from ``initial-model``, after checking it fits this config."""
        path = self.config.initial_model
        model, metadata = load_model(path)
        ours = self.metadata(num_bins=int(self.model.reference_asd.shape[0]))
        different = [key for key in self.INITIAL_MODEL_KEYS if metadata.get(key) != ours.get(key)]
        if different:
            raise ModelFileError(
                f"initial-model {path} does not fit this config: it differs in {different} "
                f"(model: {[metadata.get(key) for key in different]}, config: {[ours.get(key) for key in different]}). "
                f"Start from a model trained with the same settings, or drop initial-model.")
        self.model.load_state_dict(model.state_dict())
        self.initial_model_record = initial_model_record(path, metadata)
        logger.info(f"Starting from the weights of {path}")

    def _initialise_model(self):
        """Standardisation from prior draws; SVD basis from whitened noise-free training waveforms."""
        rng = np.random.default_rng([self.config.seed, 3])
        sample = self.simulator.standardisation_sample(rng.choice(self.train_indices, size=20000), rng)

        def mean_and_std(values):
            std = values.std(axis=0)
            std[std == 0] = 1.0
            return values.mean(axis=0), std

        gnpe = self.model.gnpe_init is not None
        proxies = mean_and_std(sample["proxies"]) if gnpe else (None, None)
        self.model.set_standardisation(*mean_and_std(sample["theta"]), *proxies)
        self.model.reference_asd.copy_(torch.as_tensor(self.simulator.reference_asd))
        if gnpe:
            self.model.gnpe_init.set_standardisation(*mean_and_std(sample["init_theta"]))
            self.model.gnpe_init.reference_asd.copy_(torch.as_tensor(self.simulator.reference_asd))

        count = min(self.config.svd_num_waveforms, len(self.train_indices))
        indices = self.train_indices[:count]
        noise_free = self.simulator.simulate(indices, rng, add_noise=False)
        self.model.embedding.initialise_from_svd(self._svd_basis(noise_free["inputs"]))
        if gnpe:
            # The GNPE network sees data shifted to the proxies (signals within ±kernel of the trigger):
            # its basis is built from those, far more compact than one from signals spread over ±deltaT/2;
            # the initialisation network sees the unshifted data and gets their basis.
            self.model.gnpe_init.embedding.initialise_from_svd(self._svd_basis(noise_free["init_inputs"]))

    def _svd_basis(self, inputs):
        """SVD basis (n_bins, svd_size) of noise-free network inputs' whitened strain, zero-padded if short."""
        whitened = (inputs[:, :, 0] + 1j * inputs[:, :, 1]).reshape(-1, inputs.shape[-1])
        basis = svd_basis(whitened, self.config.svd_size)
        if basis.shape[1] < self.config.svd_size:
            basis = np.pad(basis, ((0, 0), (0, self.config.svd_size - basis.shape[1])))
        return basis

    def metadata(self, num_bins=None):
        config = self.config
        return dict(
            bilby_dingo_version=__version__,
            detectors=list(config.detectors),
            duration=config.duration,
            sampling_frequency=config.sampling_frequency,
            minimum_frequency=config.minimum_frequency,
            maximum_frequency=config.maximum_frequency,
            reference_frequency=config.reference_frequency,
            waveform_approximant=config.waveform_approximant,
            frequency_domain_source_model=config.frequency_domain_source_model,
            reference_time=config.reference_time,
            post_trigger_duration=config.post_trigger_duration,
            deltaT=config.deltaT,
            inference_parameters=list(self.inference_parameters),
            priors={key: str(prior) for key, prior in self.priors.items()},
            # Numbers only, so that checks never need to parse (evaluate) the prior strings above.
            prior_bounds={key: [float(prior.minimum), float(prior.maximum)] for key, prior in self.priors.items()
                          if key in self.inference_parameters and hasattr(prior, "minimum")},
            psd_family=dict(entries=list(config.psd_family), perturbation_sigma=config.psd_perturbation_sigma,
                            perturbation_nodes=config.psd_perturbation_nodes,
                            scale_range=list(config.psd_scale_range)),
            network=config.network_settings(),
            num_bins=num_bins if num_bins is not None else int(self.model.reference_asd.shape[0]),
            gnpe=self._gnpe_metadata(),
            training=dict(config=config.to_dict(), epochs_trained=len(self.history),
                          best_validation_loss=float(self.best_validation_loss),
                          waveform_generation_time_s=float(self.waveform_generation_time),
                          training_time_s=float(sum(row["epoch_time_s"] for row in self.history)),
                          device=self.device, hardware=hardware_description(self.device),
                          simulation_backend=self.simulation_backend(),
                          initial_model=self.initial_model_record),
        )

    def _gnpe_metadata(self):
        """GNPE's settings for the model file (None without GNPE); numbers only, no prior strings."""
        config = self.config
        if config.gnpe_time_kernel is None:
            return None
        fixed_sky = {key: float(self.priors[key].peak) for key in ("ra", "dec")
                     if key not in self.inference_parameters and self.priors[key].is_fixed}
        return dict(kernel="uniform", kernel_half_width=float(config.gnpe_time_kernel),
                    proxy_parameters=[f"{name}_time_proxy" for name in config.detectors],
                    init_parameters=[f"{name}_time" for name in config.detectors],
                    learned_time="geocent_time minus the first detector's proxy",
                    fixed_sky=fixed_sky)

    # --- checkpoints -------------------------------------------------------------------------------

    def _save_checkpoint(self, epoch, best_state):
        atomic_torch_save(dict(
            epoch=epoch, model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), history=self.history, best_validation_loss=self.best_validation_loss,
            best_state=best_state, waveform_generation_time=self.waveform_generation_time,
        ), self.paths["checkpoint"])

    def _load_checkpoint(self):
        path = self.paths["checkpoint"]
        if not os.path.isfile(path):
            logger.info(f"No checkpoint at {path}: starting from epoch 1")
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:
            raise ModelFileError(f"Cannot read the checkpoint {path} ({error}); delete it to start afresh.") from error
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history = state["history"]
        self.best_validation_loss = state["best_validation_loss"]
        self._best_state = state["best_state"]
        self.waveform_generation_time = state["waveform_generation_time"]
        self.start_epoch = state["epoch"] + 1
        logger.info(f"Resuming from {path} at epoch {self.start_epoch}")

    # --- the loop ----------------------------------------------------------------------------------

    def _batches(self, indices, rng, stream):
        """Simulated batches, prepared in a background thread while the network trains on the last.

        ``stream`` seeds the device's noise generator (torch backend): the epoch, or the validation stream.
        """
        size = self.config.batch_size
        simulate_batch = self._batch_simulator(rng, stream)

        def simulate():
            for start in range(0, len(indices), size):
                yield simulate_batch(indices[start:start + size])

        for batch in prefetch(simulate()):
            yield {key: value.to(self.device) for key, value in batch.items()}

    def _batch_simulator(self, rng, stream):
        """A function of the indices that simulates one batch (on the device with the torch backend)."""
        if self.device_simulator is not None:
            generator = torch.Generator(device=self.device).manual_seed(torch_generator_seed(self.config.seed, stream))

            def simulate_batch(batch_indices):
                return self.device_simulator.simulate(batch_indices, rng, generator)
        else:
            def simulate_batch(batch_indices):
                return {key: torch.from_numpy(value) for key, value in self.simulator.simulate(batch_indices, rng).items()}
        return simulate_batch

    def validation_loss(self):
        self.model.eval()
        rng = np.random.default_rng([self.config.seed, VALIDATION_STREAM])
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in self._batches(self.validation_indices, rng, VALIDATION_STREAM):
                total += self.model.loss(**batch).item() * len(batch["theta"])
                count += len(batch["theta"])
        return total / count

    def train_epoch(self, epoch):
        self.model.train()
        rng = np.random.default_rng([self.config.seed, epoch])
        torch.manual_seed(self.config.seed * 100_003 + epoch)
        order = rng.permutation(self.train_indices)
        step_function = self._step_function(self.model)  # before the batch thread starts: it may capture a graph
        # The loss summed on the device: reading it each step would make the host wait for the device.
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count, steps, start = 0, 0, time.perf_counter()
        data_wait = 0.0  # time the network waits for the next batch: the pipeline cost not hidden
        with tqdm(total=len(order), desc=f"epoch {epoch}/{self.config.epochs}", unit="sample", leave=False,
                  disable=None) as bar:  # None: no bar when the output is not a terminal
            batches = self._batches(order, rng, epoch)
            while True:
                tick = time.perf_counter()
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                data_wait += time.perf_counter() - tick
                loss = step_function(self.model, self.optimizer, batch)
                size = len(batch["theta"])
                total += loss.detach().double() * size
                count, steps = count + size, steps + 1
                bar.update(size)
                if not bar.disable and steps % 10 == 1:  # every 10 batches, and only with a visible bar
                    bar.set_postfix(loss=f"{float(total) / count:.3f}",
                                    samples_per_s=f"{count / (time.perf_counter() - start):.0f}")
        train_loss = float(total) / count
        elapsed = time.perf_counter() - start
        return train_loss, elapsed, data_wait

    def train(self, until_epoch=None):
        """Train to ``config.epochs`` (or stop after ``until_epoch``); return the history."""
        last = min(self.config.epochs, until_epoch or self.config.epochs)
        best_state = getattr(self, "_best_state", None)
        for epoch in range(self.start_epoch, last + 1):
            train_loss, elapsed, data_wait = self.train_epoch(epoch)
            validation_loss = self.validation_loss()
            learning_rate = self.optimizer.param_groups[0]["lr"]
            if self.config.lr_schedule == "cosine":
                self.scheduler.step()
            else:
                self.scheduler.step(validation_loss)
            self.history.append(dict(epoch=epoch, train_loss=train_loss, validation_loss=validation_loss,
                                     learning_rate=learning_rate, epoch_time_s=elapsed,
                                     data_wait_s=data_wait,
                                     samples_per_s=len(self.train_indices) / elapsed))
            if validation_loss < self.best_validation_loss:
                self.best_validation_loss = validation_loss
                best_state = {key: value.detach().cpu().clone() for key, value in self.model.state_dict().items()}
                self._write_model(best_state)
            self._save_checkpoint(epoch, best_state)
            self._write_history()
            self.start_epoch, self._best_state = epoch + 1, best_state  # a later train() call continues here
            logger.info(f"epoch {epoch}: train loss {train_loss:.4f}, validation loss {validation_loss:.4f}, "
                        f"{len(self.train_indices) / elapsed:.0f} samples/s")
        return self.history

    def _write_model(self, state):
        model = build_model(self.metadata())
        model.load_state_dict(state)
        save_model(self.paths["model"], model, self.metadata())

    def _write_history(self):
        with atomic_path(self.paths["history"], suffix=".csv") as temporary:
            with open(temporary, "w", newline="") as stream:
                writer = csv.DictWriter(stream, fieldnames=list(self.history[0]))
                writer.writeheader()
                writer.writerows(self.history)
        plot_history(self.history, self.paths["plot"])


def training_step(model, optimizer, batch):
    """One optimiser step on the batch's negative log-likelihood; returns the loss."""
    optimizer.zero_grad()
    loss = model.loss(**batch)
    loss.backward()
    optimizer.step()
    return loss


class GraphedTrainingStep:
    """:func:`training_step` with the forward and backward pass replayed from a CUDA graph.

    A step of the default network launches ~5,000 small kernels from Python (the spline couplings); on a
    GPU the host's launches, not the device, set the step's time (docs/validation.md, "Where a GPU
    training step's time goes"). Captured once, the same kernels are replayed with one launch. The graph
    computes the loss and the gradients of ``model`` on a fixed batch size into tensors it owns; the
    optimiser step stays eager, so Adam, its learning-rate schedule and checkpoints are unchanged. A
    batch of another size (an epoch's last) runs eagerly. The model must not synchronise with the host
    in its forward or backward pass (network/splines.py).

    Capturing changes nothing in ``model``: the warm-up passes only compute gradients, which the capture
    discards.
    """

    def __init__(self, model, example_batch, warm_up=2):
        self.model = model
        self.static = {key: value.detach().clone() for key, value in example_batch.items()}
        self.size = len(example_batch["theta"])
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # cuBLAS handles and autograd's lazy set-up, outside the capture
            for _ in range(warm_up):
                model.zero_grad(set_to_none=True)
                model.loss(**self.static).backward()
        torch.cuda.current_stream().wait_stream(stream)
        # With no .grad, the captured backward writes fresh gradient tensors (owned by the graph) rather
        # than adding to old ones: each replay overwrites them.
        model.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=stream):
            loss = model.loss(**self.static)
            loss.backward()
        # Detached: the replays write the loss here, and no autograd graph outlives the capture (a kept one
        # would tie the gradient accumulators to the capture's stream, and an eager step would then warn).
        self.loss = loss.detach()
        del loss
        self.gradients = [(parameter, parameter.grad) for parameter in model.parameters() if parameter.grad is not None]

    def __call__(self, model, optimizer, batch):
        if model is not self.model:
            raise ValueError("This CUDA graph was captured for another model.")
        if len(batch["theta"]) != self.size or batch.keys() != self.static.keys():
            return training_step(model, optimizer, batch)
        for key, value in self.static.items():
            value.copy_(batch[key])
        self.graph.replay()
        for parameter, gradient in self.gradients:  # an eager step in between replaced them
            if parameter.grad is not gradient:
                parameter.grad = gradient
        optimizer.step()
        return self.loss


def hardware_description(device):
    """The hardware a model was trained on, for its training record: the GPU's name or the CPU count."""
    if str(device).startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))}, {os.cpu_count()} CPU cores"
    return f"CPU, {os.cpu_count()} cores"


def prefetch(iterator, depth=2):
    """Run ``iterator`` in a background thread, ``depth`` items ahead; re-raise its errors here.

    numpy and torch release the GIL in their array kernels, so simulation overlaps with training.
    Items come out in order, so seeded runs stay reproducible.
    """
    items = queue.Queue(maxsize=depth)
    finished = object()
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(finished)
        except BaseException as error:  # handed to the consumer
            items.put(error)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def plot_history(history, filename):
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(epochs, [row["train_loss"] for row in history], "o-", label="training")
    ax.plot(epochs, [row["validation_loss"] for row in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log-likelihood (standardised θ)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
