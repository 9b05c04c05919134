"""Browser tests: the JS client (clients/js) in real headless Chromium against the local gateway."""


def pytest_configure(config):
    # Also registered in pyproject.toml; repeated here so `--strict-markers` accepts the module on its own.
    config.addinivalue_line("markers", "browser: runs clients/js in headless Chromium (Debian chromium + playwright)")
