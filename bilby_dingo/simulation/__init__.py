"""Simulated data: waveforms through bilby and lalsuite, detector projection, the PSD family and noise,
GNPE's time proxies, and the training simulator (numpy, or torch on a GPU).

Imports nothing on purpose: the training simulator pulls in torch, and bilby_pipe jobs that only read
data should not pay for it. Import the modules themselves.
"""
