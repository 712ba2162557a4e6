"""toppose.train."""
