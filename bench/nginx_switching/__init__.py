"""Switching through nginx: what users see while rollsafe moves traffic between instances."""
