"""rollsafe: safe progressive rollouts outside Kubernetes."""

__version__ = "0.1.0"
