# The two commands a new user needs (see README.md).
.PHONY: demo test test-cluster kafka-start kafka-stop

demo:            ## Start Kafka, the tracker and the load generator; print what happened.
	scripts/demo.sh

test:            ## Everything the tests need, then all tests (what CI runs).
	scripts/test.sh

test-cluster:    ## Only the 3-node cluster tests (tests/cluster.rs starts and stops its own cluster).
	cargo test --locked --features fault-injection --test cluster -- --nocapture

kafka-start:
	scripts/kafka.sh start

kafka-stop:
	scripts/kafka.sh stop
