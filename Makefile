# The two commands a user needs: `make run` (the main job) and `make test`.
PYTHON ?= python3
VPY := build/venv/bin/python
CAFFE_TOOL = $(shell $(VPY) -c 'from inq_layer.caffe_edge.caffe_io import caffe_tool; print(caffe_tool())')
FLOAT_MODEL := build/lenet/lenet_float.caffemodel
# The float LeNet's last iteration, read from its solver (the snapshot's name carries it).
FLOAT_ITERS = $(shell sed -n 's/^max_iter: *\([0-9]*\).*/\1/p' prototxt/lenet_solver.prototxt)
INQ_OUT := build/lenet/lenet_inq
# LeNet's matrices are too small for a second BLAS thread to help: one is faster alone, and
# two crawl when other trainings share the cores. A user's own OPENBLAS_NUM_THREADS wins.
ONE_BLAS = OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1}
export PYTHON

.PHONY: setup test bench run data replicate replication-doc mutate clean-caffe

setup:
	@bash scripts/setup.sh

# Two tiers: tests/unit without pycaffe, then everything that builds Caffe nets (the replication's
# tests live with it, in experiments/replication/tests).
test: setup
	$(VPY) -m ruff check --quiet .
	$(VPY) tests/unit_without_caffe.py -q
	$(VPY) -m pytest -q -p no:cacheprovider tests experiments/replication/tests --ignore=tests/unit

bench: setup data $(FLOAT_MODEL)
	@for b in bench/bench_*.py; do echo "== $$b"; GLOG_minloglevel=1 $(VPY) $$b || exit 1; done

data: setup
	@$(VPY) -m inq_layer.tools.digits_data --out build/digits --downloads build/downloads
	@$(VPY) -m inq_layer.tools.fashion_data --out build/fashion --downloads build/downloads

# Float LeNet, trained once with Caffe's own tool (seeded by the solver's random_seed).
$(FLOAT_MODEL):
	@$(MAKE) --no-print-directory data
	@mkdir -p build/lenet
	@echo "training the float LeNet with caffe train (about a minute)"
	@$(ONE_BLAS) GLOG_logtostderr=1 $(CAFFE_TOOL) train --solver=prototxt/lenet_solver.prototxt > build/lenet/float_train.log 2>&1 \
	  || { tail -n 20 build/lenet/float_train.log; echo "error: caffe train failed (build/lenet/float_train.log)"; exit 1; }
	@mv build/lenet/lenet_float_iter_$(FLOAT_ITERS).caffemodel $@

run: data $(FLOAT_MODEL)
	@rm -rf $(INQ_OUT)
	@start=$$(date +%s); $(ONE_BLAS) $(VPY) solver_driver.py --solver prototxt/lenet_inq_solver.prototxt --weights $(FLOAT_MODEL) \
	  --bits 5 --campaign 0.5,0.75,0.875,1.0 --out $(INQ_OUT) 2>build/lenet/caffe_stderr.log \
	  && echo "make run: the campaign took $$(( $$(date +%s) - start )) s"

# The paper's questions on Fashion-MNIST, 3 seeds a row: hours; resumable (finished runs are skipped).
replicate: data
	$(VPY) experiments/replication/replicate.py

# docs/REPLICATION.md, its plots and the README's 2-bit ResNet section from the kept results (docs/replication/) alone: seconds.
replication-doc: setup
	$(VPY) experiments/replication/replicate.py --doc

# Mutation testing in two tiers, the numpy core and the campaign side with the deploy tools
# (scripts/mutate.sh; hours; resumable from mutation_state/); not part of make test. The C
# kernels (writeback.c, quantize_kernel.c) are not mutated; their tests compare them with numpy.
mutate: setup
	scripts/mutate.sh

clean-caffe:
	rm -rf build/caffe build/caffe.partial
