"""Data sources plugged into the generic pipeline. Only this folder knows what a flight is."""
