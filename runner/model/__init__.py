"""The records and rules: scenario, testbed inventory, plan, placement, manifest records,
problems, units, timestamps, YAML and schemas, and the plain helpers they share (errors,
files, progress lines). No Docker, no git, no network: see ARCHITECTURE.md."""
