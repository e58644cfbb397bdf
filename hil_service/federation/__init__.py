"""Federated learning across devices on Flower: partitions, weights, processes, the app."""
