"""Argparse option classes: `BaseOptions` (shared), `TrainOptions`, `TestOptions`."""
