"""The common base of the loopback fakes: see loopback.py and ../README.md."""
