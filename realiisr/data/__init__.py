"""Data: image I/O, the bundled-sample locator and synthetic thermal frames."""
