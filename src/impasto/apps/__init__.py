"""Applications built on the pipeline: a folder at once (batch), figures that explain the method,
videos without flicker."""
