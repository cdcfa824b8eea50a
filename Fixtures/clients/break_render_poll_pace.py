#!/usr/bin/env python3
"""good.py with one rule broken: render-poll-pace (see good.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import good  # noqa: E402

good.BREAK = "render-poll-pace"
good.main()
