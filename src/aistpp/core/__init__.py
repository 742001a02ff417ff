"""Core layer: joint facts, names and layout, file formats, camera geometry, body model, runner."""
