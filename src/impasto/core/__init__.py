"""The algorithm: the network, its weights, the loss terms, the optimizers, precision and compilation,
colour transfer. No file I/O beyond reading weights; nothing here imports the layers above it."""
