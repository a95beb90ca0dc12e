"""Small shared helpers: registries, errors, checkpoints, logging, HTML."""
