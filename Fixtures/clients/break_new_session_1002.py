#!/usr/bin/env python3
"""good.py with one rule broken: new-session-1002 (see good.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import good  # noqa: E402

good.BREAK = "new-session-1002"
good.main()
