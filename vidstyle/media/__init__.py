"""Media in and out: sources (clips, frame folders, images), the PyAV reader and writer, image
files, safe output paths and previews. No torch here: frames are uint8 RGB numpy arrays."""
