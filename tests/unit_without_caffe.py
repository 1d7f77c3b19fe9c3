"""`make test`'s numpy tier: tests/unit with pycaffe made unimportable. A skipped test
fails the tier (a test that needed Caffe belongs to the other tier).

    python tests/unit_without_caffe.py [pytest options]
"""
import os
import sys

sys.modules["caffe"] = None  # `import caffe` raises ImportError from here on


class NoSkips:
    def __init__(self):
        self.skipped = []

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped.append(report.nodeid)


def main(argv):
    import pytest
    plugin = NoSkips()
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit")
    code = pytest.main(["-p", "no:cacheprovider", *argv, here], plugins=[plugin])
    if plugin.skipped:
        print(f"numpy tier: {len(plugin.skipped)} tests skipped without pycaffe: {', '.join(plugin.skipped)}")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
