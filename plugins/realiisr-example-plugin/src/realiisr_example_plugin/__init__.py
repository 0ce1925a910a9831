"""Example realiisr plugin: components are found through entry points, nothing registers at import."""
