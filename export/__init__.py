"""toppose.export."""
