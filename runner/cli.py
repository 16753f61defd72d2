def main() -> int:
    from importlib.resources import files
    print([p.name for p in (files("runner") / "schemas").iterdir()])
    return 0
