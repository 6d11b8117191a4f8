import os
import sys

# Lets the test modules import each other's constants (test_golden).
sys.path.insert(0, os.path.dirname(__file__))
