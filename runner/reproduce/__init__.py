"""Re-running a recorded run and judging the result: bundles and comparisons."""
