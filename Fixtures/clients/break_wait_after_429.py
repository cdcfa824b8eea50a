#!/usr/bin/env python3
"""good.py with one rule broken: wait-after-429 (see good.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import good  # noqa: E402

good.BREAK = "wait-after-429"
good.main()
