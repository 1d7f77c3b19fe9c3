# The two commands a user needs: `make run` (the main job) and `make test`.
PYTHON ?= python3
VPY := build/venv/bin/python
export PYTHON

.PHONY: setup test bench run clean-caffe

setup:
	@bash scripts/setup.sh

test: setup
	$(VPY) -m pytest -q -p no:cacheprovider tests

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

clean-caffe:
	rm -rf build/caffe build/caffe.partial
