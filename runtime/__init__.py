"""toppose.runtime."""
